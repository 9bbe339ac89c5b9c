"""Published evaluation protocols as presets: ``vlmctx eval --preset NAME``.

A preset fixes what a paper's number depends on — the task and its arguments (subtitles or not),
the frame sampler (frames, fps, caps), the pixel limits — and cites where the protocol and its
score come from. The prompt and the answer parsing are the task's own (the benchmark's official
ones, see each task module). Explicit flags win over the preset (``--frames 64`` changes only the
frame count), and the run records the preset's name and source in ``run.json``.

Scores are what the source reports; none was reproduced here (no GPU run of a 7B model on the
full benchmark was made in this repository), so each says "reported in ..., not reproduced here".
Where a protocol detail is not in the source, the preset says what it assumed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from vlmctx.errors import ConfigError

QWEN25_TOTAL = int(128000 * 28 * 28 * 0.9)  # qwen-vl-utils VIDEO_TOTAL_PIXELS


@dataclass(frozen=True)
class Preset:
    name: str
    task: str
    sampler: str
    sampler_params: dict[str, Any]
    source: str
    reported: str
    task_args: dict[str, Any] = field(default_factory=dict)
    max_pixels: int | None = None
    assumed: str = ""


# A data table, one entry per row aligned by hand for reading: `ruff format` skips it.
PRESETS = {
    p.name: p
    for p in (
        Preset(
            "qwen2.5-vl-videomme", "videomme", "token_budget",
            {"fps": 2.0, "min_frames": 4, "max_frames": 768, "total_pixels": QWEN25_TOTAL,
             "min_pixels": 128 * 28 * 28, "max_pixels": 768 * 28 * 28},
            source="Qwen2.5-VL technical report, arXiv 2502.13923 (Video-MME table); "
            "qwen-vl-utils vision_process.py (sampling and pixel budget)",
            reported="Qwen2.5-VL-7B: 65.1 w/o subs, 71.6 w/ subs (add "
            "--task-arg videomme:subtitles=true); reported in arXiv 2502.13923, not reproduced here",
            assumed="the report does not list its Video-MME frame settings; qwen-vl-utils' "
            "defaults (2 fps, 4-768 frames, 128000*28*28*0.9 total pixels) are used",
        ),
        Preset(
            "llava-ov-videomme", "videomme", "uniform", {"n": 32},
            source="LLaVA-OneVision, arXiv 2408.03326 (32 uniformly sampled frames); lmms-eval",
            reported="LLaVA-OneVision-7B: 58.2 w/o subs; reported in arXiv 2408.03326, "
            "not reproduced here",
            assumed="frame size is the processor's (384x384 SigLIP tiles); no pixel cap",
        ),
        Preset(
            "qwen3-vl-videomme", "videomme", "token_budget",
            {"fps": 2.0, "min_frames": 4, "max_frames": 2048, "patch_size": 16,
             "min_pixels": 128 * 32 * 32, "max_pixels": 768 * 32 * 32},
            source="Qwen3-VL model cards and qwen-vl-utils (Qwen3 branch): 2 fps, up to 2048 "
            "frames, 16-pixel patches, 128-768 tokens per frame",
            reported="no score recorded: the model card's Video-MME numbers could not be "
            "checked offline; compare against the card yourself",
            assumed="the total-pixel budget is qwen-vl-utils' Qwen2.5 default; Qwen3's "
            "MODEL_SEQ_LEN-based budget is not modelled",
        ),
    )
}  # fmt: skip


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r}; one of {', '.join(sorted(PRESETS))} "
            "(vlmctx eval --tasks list shows them)"
        )
    return PRESETS[name]


def apply_preset(args: argparse.Namespace) -> dict[str, Any] | None:
    """Fill unset flags of ``args`` from ``args.preset``; return what to record in run.json.

    The preset's sampler arguments go first and the user's ``--sampler-arg``/``--task-arg`` after
    them, so the user's values win; ``--frames``/``--fps``/``--max-pixels`` are applied on top by
    ``context_from_args`` as usual. ``--config`` and ``--preset`` both set a base: refused.
    """
    if not getattr(args, "preset", None):
        return None
    p = get(args.preset)
    if getattr(args, "config", None):
        raise ConfigError("--preset and --config both set the context; give one of them")
    if not args.tasks:
        args.tasks = p.task
    if p.task not in [t.strip() for t in args.tasks.split(",")]:
        raise ConfigError(f"preset {p.name} is for task {p.task}; add it to --tasks")
    if args.sampler and args.sampler != p.sampler:
        raise ConfigError(
            f"preset {p.name} uses sampler {p.sampler}; drop --sampler {args.sampler}"
        )
    args.sampler = p.sampler
    user = list(args.sampler_arg or [])
    if args.frames is not None and "max_frames" in p.sampler_params:  # fps-style: a frame cap
        user.append(f"max_frames={args.frames}")
        args.frames = None
    if args.fps is not None and "fps" in p.sampler_params:
        user.append(f"fps={args.fps}")
        args.fps = None
    args.sampler_arg = [f"{k}={v}" for k, v in p.sampler_params.items()] + user
    args.task_arg = [f"{p.task}:{k}={v}" for k, v in p.task_args.items()] + (args.task_arg or [])
    if args.max_pixels is None and p.max_pixels is not None:
        args.max_pixels = p.max_pixels
    return {"name": p.name, "source": p.source, "reported": p.reported, "assumed": p.assumed}


def listing() -> str:
    """Every registered task with its parameters, then every preset (``--tasks list``)."""
    import inspect

    from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks

    load_builtin_tasks()
    lines = ["tasks (--tasks NAME, --task-arg NAME:KEY=VALUE):"]
    for e in TASKS:
        params = ", ".join(
            k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in e.parameters().items()
        )
        lines.append(f"  {e.name:<16} {e.summary}\n  {'':<16} ({params})")
    lines.append("presets (--preset NAME):")
    for p in PRESETS.values():
        lines.append(f"  {p.name:<22} task {p.task}, sampler {p.sampler} {p.sampler_params}")
        lines.append(f"  {'':<22} source: {p.source}\n  {'':<22} reported: {p.reported}")
    return "\n".join(lines)
