"""``vlmctx batch``: answer questions about many videos into a resumable JSONL file.

Plugged into ``vlmctx`` through the ``vlmctx.commands`` entry point ``batch =
vlmctx_pipelines.batch.cli:register``; also runnable as ``python -m vlmctx_pipelines.batch.cli``
(which is what ``accelerate launch -m vlmctx_pipelines.batch.cli ...`` uses for several GPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from vlmctx.cli.argtypes import (
    add_prefix_cache_args,
    int_at_least,
    nonneg_int,
    output_file,
    positive_float,
    positive_int,
)
from vlmctx.cli.context_args import add_context_args, context_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``batch`` subcommand to a ``vlmctx`` subparsers object."""
    p = sub.add_parser(
        "batch",
        help="answer questions about many videos (resumable JSONL, data parallel)",
        description="INPUT is a folder of videos (each asked every --question) or a CSV/JSONL "
        "manifest with columns video, question (optional) and id (optional). One JSON record per "
        "(video, question) is appended to --output; a rerun skips finished items. Under "
        "`accelerate launch` the ranks share the videos dynamically (longest first).",
        epilog="examples:\n"
        '  vlmctx batch videos/ -q "What happens?" -o answers.jsonl --model toylab --fps 1\n'
        "  vlmctx batch manifest.csv -o answers.jsonl --frames 32   # columns video,question,id\n"
        "  vlmctx batch manifest.csv -o answers.jsonl --retry-failed   # rerun: redo errors only\n"
        "  accelerate launch -m vlmctx_pipelines.batch.cli manifest.csv -o answers.jsonl",
    )
    add_arguments(p)
    p.set_defaults(func=cmd_batch)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vlmctx.cli.commands import add_model_args
    from vlmctx.defaults import DEFAULT_MAX_NEW_TOKENS

    p.add_argument("input", help="folder of videos, or a .csv/.jsonl manifest")
    p.add_argument(
        "-o", "--output", required=True, type=output_file(), help="JSONL file to append records to"
    )
    p.add_argument(
        "-q",
        "--question",
        action="append",
        default=[],
        help="question template for every video (repeatable; may use {name} {stem} {path})",
    )
    add_model_args(p)
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=DEFAULT_MAX_NEW_TOKENS,
        help=f"answer length cap, in tokens ({DEFAULT_MAX_NEW_TOKENS}, as `vlmctx ask`)",
    )
    p.add_argument(
        "--decode-workers",
        type=nonneg_int,
        default=2,
        help="decode processes prefetching videos (2); 0 decodes inline, without overlap",
    )
    p.add_argument("--prefetch", type=positive_int, default=2, help="decoded videos kept ready (2)")
    p.add_argument(
        "--torch-threads",
        type=int_at_least(-1),
        default=0,
        help="model threads on CPU; 0 (default): the cores the decode workers leave; -1: torch's",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=300.0,
        help="seconds allowed to decode one video (300)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="redo items whose last record has an error"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--summary-json", help="also write the run summary to this JSON file")
    add_engine_args(p)
    add_context_args(p)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine local|ray`` and the Ray options (docs/batch.md: on a cluster)."""
    g = p.add_argument_group("engine (docs/batch.md)")
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default): this machine, or the ranks of `accelerate launch`; ray: Ray Data "
        "model actors on a Ray cluster (needs the `ray` extra)",
    )
    g.add_argument(
        "--ray-address",
        help="Ray cluster to join, e.g. HEAD_IP:6379 (default: $RAY_ADDRESS, else a Ray that "
        "`ray start` runs on this machine, else a new one for this job)",
    )
    add_prefix_cache_args(p)
    g.add_argument(
        "--ray-actors",
        type=nonneg_int,
        default=0,
        help="model actors, one VideoLM each (default: one per GPU, else one per two CPUs)",
    )
    g.add_argument(
        "--ray-timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds to reach and join the Ray cluster before giving up with one line (30)",
    )
    g.add_argument(
        "--ray-decode",
        choices=("actor", "tasks"),
        default="actor",
        help="where videos are decoded: actor (default; in each model actor's decode pool, with "
        "--timeout) or tasks (Ray CPU tasks; frames go through the object store)",
    )


def cmd_batch(args: argparse.Namespace) -> int:
    from vlmctx_pipelines.batch.items import load_items
    from vlmctx_pipelines.batch.qa import BatchOptions, run_batch, run_batch_ray

    opts = BatchOptions(
        output=args.output,
        model=args.model,
        config=context_from_args(args),
        device=args.device,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
        decode_workers=args.decode_workers,
        prefetch=args.prefetch,
        torch_threads=args.torch_threads,
        timeout_s=args.timeout,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        prefix_cache=args.prefix_cache,
        prefix_cache_offload=args.prefix_cache_offload,
    )
    items = load_items(args.input, args.question)
    if args.engine == "ray":
        from vlmctx_pipelines.batch.ray_engine import RayOptions

        ray_opts = RayOptions(
            args.ray_address, args.ray_actors, args.ray_decode, timeout_s=args.ray_timeout
        )
        summary = run_batch_ray(items, opts, ray_opts)
    else:
        summary = run_batch(items, opts)
    if int(os.environ.get("RANK", "0")) == 0:
        print(summary.line(), file=sys.stderr)
        if args.summary_json:
            with open(args.summary_json, "w", encoding="utf-8") as fh:
                json.dump(summary.to_dict(), fh, indent=2)
    return 0 if summary.ok else 3  # error records for this input, this run's or earlier


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m vlmctx_pipelines.batch.cli``, e.g. ``accelerate launch -m``):
    the same parser and errors-as-one-line handling as ``vlmctx batch``."""
    from vlmctx.cli import main as vlmctx_main

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = [a for a in argv if a == "--debug"]
    rest = [a for a in argv if a != "--debug"]
    if not rest or rest[0] != "batch":
        rest = ["batch", *rest]
    return vlmctx_main([*debug, *rest])


if __name__ == "__main__":
    sys.exit(main())
