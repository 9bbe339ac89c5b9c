"""The command-line side of ``ContextConfig``: the shared context flags and the config they build.

``add_context_args`` adds the flags every front end shares (ask, plan, batch, eval, demo);
``context_from_args`` reads them back on top of an optional ``--config`` file. The dataclass itself
(and ``parse_kv`` for ``KEY=VALUE`` parameters) lives in ``vlmctx.config``, which imports nothing
from the CLI.
"""

from __future__ import annotations

from typing import Any

from vlmctx.cli.argtypes import backend, int_at_least, positive_float, positive_int
from vlmctx.config import ContextConfig, parse_kv

__all__ = ["MAX_FRAMES", "add_context_args", "context_from_args", "parse_kv"]

# --frames above this is a typo, not a video: 10 million frames is 4 days at 30 fps
MAX_FRAMES = 10_000_000


def add_context_args(parser: Any) -> None:
    """Add the ContextConfig flags to an argparse parser (shared by ask, batch, eval, demo)."""
    g = parser.add_argument_group("context (how the video becomes model input)")
    g.add_argument(
        "--config", help="read a ContextConfig from a .json/.yaml file; flags override it"
    )
    g.add_argument("--sampler", help="frame sampler (default uniform; `vlmctx ls` lists them)")
    g.add_argument(
        "--frames",
        type=int_at_least(1, MAX_FRAMES),
        help="number of frames (uniform/segment n, fps max_frames)",
    )
    g.add_argument(
        "--fps", type=positive_float, help="sample at this many frames per second (fps sampler)"
    )
    g.add_argument(
        "--sampler-arg", action="append", metavar="KEY=VALUE", help="sampler parameter (repeatable)"
    )
    g.add_argument(
        "--backend", type=backend, help="decoder: auto (default), torchcodec, pyav, decord, opencv"
    )
    g.add_argument(
        "--max-pixels", type=positive_int, help="downscale frames to at most this many pixels"
    )
    g.add_argument("--pooling", help="token pooler (default none)")
    g.add_argument("--pooling-arg", action="append", metavar="KEY=VALUE", help="pooler parameter")
    g.add_argument("--position", help="position scheme (default: the model's own)")
    g.add_argument("--position-arg", action="append", metavar="KEY=VALUE", help="scheme parameter")


def context_from_args(args: Any) -> ContextConfig:
    """Build a ContextConfig from parsed flags (config file first, then flags on top)."""
    base = ContextConfig.load(args.config) if getattr(args, "config", None) else ContextConfig()
    changes: dict[str, Any] = {}
    sampler = args.sampler or base.sampler
    if args.fps is not None and not args.sampler:
        sampler = "fps"
    sp: dict[str, Any] = dict(base.sampler_params) if sampler == base.sampler else {}
    if args.fps is not None:
        sp["fps"] = args.fps
    if args.frames is not None:
        sp["max_frames" if sampler == "fps" else "n"] = args.frames
    sp.update(parse_kv(args.sampler_arg))
    changes.update(sampler=sampler, sampler_params=sp)
    if args.backend:
        changes["backend"] = args.backend
    if args.max_pixels is not None:
        changes["max_pixels"] = args.max_pixels
    for comp in ("pooling", "position"):
        name = getattr(args, comp) or getattr(base, comp)
        params = dict(getattr(base, f"{comp}_params")) if name == getattr(base, comp) else {}
        params.update(parse_kv(getattr(args, f"{comp}_arg")))
        changes[comp] = name
        changes[f"{comp}_params"] = params
    return base.replace(**changes)
