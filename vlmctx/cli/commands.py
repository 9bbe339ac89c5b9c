"""Core subcommands of ``vlmctx``: ``ask``, ``info`` and ``ls``.

Each ``cmd_*`` function takes parsed arguments and returns an exit code; user errors raise
:class:`~vlmctx.errors.VlmctxError` and :func:`vlmctx.cli.main` prints them as one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Any

from vlmctx.cli.argtypes import (
    add_prefix_cache_args,
    device,
    dtype,
    memory_size,
    memory_sizes,
    positive_int,
    prefix_cache_of,
)
from vlmctx.cli.context_args import add_context_args, context_from_args
from vlmctx.cli.output import printable
from vlmctx.defaults import DEFAULT_MAX_NEW_TOKENS
from vlmctx.errors import ConfigError

log = logging.getLogger(__name__)


def register_core(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ask",
        help="ask a question about a video",
        description="Sample frames from VIDEO (with their true timestamps), feed them to a VLM and "
        "print its answer, the frames used and the visual-token count. VIDEO may be 'sample' for "
        "the bundled sample video. The default model is downloaded from the Hugging Face hub on "
        "first use; --model toylab (shipped) and tiny-<family> (random weights) work offline.",
        epilog="examples:\n"
        '  vlmctx ask sample "What colour is the ball?" --model toylab --fps 1\n'
        '  vlmctx ask clip.mp4 "What happens after the door opens?" --frames 32 --pooling progressive\n'
        '  vlmctx ask talk.mp4 "Summarize the talk." --fps 0.5 --max-memory 24GiB --json',
    )
    p.add_argument("video", help="path to a video file, or 'sample'")
    p.add_argument("question", help="the question, in quotes")
    add_model_args(p)
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=DEFAULT_MAX_NEW_TOKENS,
        help=f"answer length cap, in tokens ({DEFAULT_MAX_NEW_TOKENS}, as batch and the demo)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--no-stream", action="store_true", help="print the answer only when complete")
    add_prefix_cache_args(p)
    p.add_argument(
        "--max-memory",
        type=memory_size,
        help="refuse (before loading weights) plans above this, e.g. 24GiB",
    )
    p.add_argument(
        "--subtitles",
        metavar="FILE",
        help=".srt/.vtt (or LongVideoBench .json) subtitles: the lines overlapping the sampled "
        "frames, with their start times, between the frames or before the question "
        "(--subtitles-placement; docs/eval.md, Subtitles)",
    )
    p.add_argument(
        "--subtitles-placement",
        choices=("auto", "interleaved", "before"),
        help="interleaved: each line between the frames by its time (LongVideoBench's rule); "
        "before: one block before the question; auto (default): interleaved unless pooling is on",
    )
    p.add_argument(
        "--subtitle-tokens",
        type=int,
        metavar="N",
        help="at most N tokens of subtitle lines, thinned evenly over time (default: no cap)",
    )
    add_context_args(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "plan",
        help="tokens and memory of a plan, before loading any weight",
        description="Sample VIDEO as `ask` would and print the visual/total tokens, KV-cache size, "
        "weights and an estimate of peak prefill memory for MODEL, without loading weights. "
        "Hub ids with an architecture card (vlmctx.models.cards) need no hub access. "
        "With --max-memory, exits non-zero when the plan does not fit; with --fit, prints the "
        "most frames that fit each memory size, per pooler. With --stream (no VIDEO), plans a "
        "streaming session (`vlmctx live`): device key/values, host bytes per tier per hour and "
        "how long a stream each --host-budget holds before the compact tier takes over.",
        epilog="examples:\n"
        "  vlmctx plan sample --model toylab --frames 16\n"
        "  vlmctx plan --stream 10h --fps 1 --model Qwen/Qwen3-VL-8B-Instruct --host-budget 16GiB,64GiB\n"
        "  vlmctx plan 1280x720@30m --model Qwen/Qwen2-VL-7B-Instruct --fps 1 --fit 24GiB,80GiB\n"
        "  vlmctx plan clip.mp4 --frames 256 --pooling progressive --max-memory 24GiB",
    )
    p.add_argument(
        "video",
        nargs="?",
        help="path to a video file, 'sample', or a hypothetical video WIDTHxHEIGHT@DURATION "
        "(e.g. 1280x720@30m; s/m/h, 30 fps) planned without any file",
    )
    add_stream_plan_args(p)
    add_model_args(p)
    p.add_argument("--question", default="Describe the video.", help="prompt to count")
    p.add_argument("--max-memory", type=memory_size, help="refuse plans above this, e.g. 24GiB")
    p.add_argument(
        "--fit",
        type=memory_sizes,
        help="memory sizes, e.g. 24GiB,80GiB,141GiB: the most frames that fit each",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_context_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "info",
        help="probe a video and show what each decoding backend can do",
        description="Print frames, fps, duration, size, rotation, codec, VFR flag and keyframes of "
        "VIDEO (frames are counted from packets, not taken from the header), and which decoding "
        "backends are installed here. It loads no model and no torch, so it answers quickly.",
        epilog="examples:\n"
        "  vlmctx info sample                  # the bundled 12-second sample video\n"
        "  vlmctx info clip.mp4 --json         # one JSON object, for scripts\n"
        "  vlmctx info clip.mp4 --check-backends   # also load torchcodec to test it (slower)",
    )
    p.add_argument("video", help="path to a video file, or 'sample'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--check-backends",
        action="store_true",
        help="load each decoding library to check it works (torchcodec imports torch: seconds); "
        "by default only their presence is checked",
    )
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "ls",
        help="list samplers, poolers, position schemes and model families",
        description="List every registered component with its parameters and defaults: frame "
        "samplers (--sampler), token poolers (--pooling), position schemes (--position), model "
        "families, and the models that run offline (shipped and tiny). Benchmark tasks and their "
        "parameters: `vlmctx eval --tasks list`.",
        epilog="examples:\n"
        "  vlmctx ls\n"
        "  vlmctx ls --json\n"
        "  vlmctx eval --tasks list          # benchmark tasks, their parameters and presets",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_ls)


def add_model_args(p: argparse.ArgumentParser) -> None:
    from vlmctx.defaults import DEFAULT_MODEL

    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"hub id, local checkpoint folder, tiny-<family>, or the shipped 'toylab' "
        f"(default {DEFAULT_MODEL})",
    )
    p.add_argument(
        "--device", type=device, default="auto", help="auto (cuda if present), cpu, cuda:0 ..."
    )
    p.add_argument(
        "--dtype", type=dtype, default="auto", help="auto (bf16 on GPU, fp32 on CPU), float16 ..."
    )


def resolve_video(arg: str) -> str:
    """'sample' -> the bundled sample video; anything else is a path."""
    if arg == "sample":
        from vlmctx.runtime.assets import sample_video

        return str(sample_video())
    return arg


def cmd_ask(args: argparse.Namespace) -> int:
    from vlmctx.engine import VideoLM, check_config, load_frames

    if not args.question.strip():
        raise ConfigError('the question is empty; ask something, e.g. "What happens?"')
    config = context_from_args(args)
    components = check_config(config)  # unknown or unavailable components fail before any decoding
    video = resolve_video(args.video)
    if args.max_memory:
        from vlmctx.planner import check_memory_limit, parse_bytes

        check_memory_limit(_plan(args, config, video, args.question), parse_bytes(args.max_memory))
    frames = load_frames(video, config)  # a bad video fails before any weight is loaded
    subs = _subtitles(args)  # and so does a bad subtitle file
    lm = VideoLM.load(
        args.model,
        config,
        device=args.device,
        dtype=args.dtype,
        components=components,
        prefix_cache=prefix_cache_of(args),
    )
    stream = not (args.json or args.no_stream)
    if stream:
        s = lm.ask(
            frames, args.question, max_new_tokens=args.max_new_tokens, stream=True, subtitles=subs
        )
        print("answer: ", end="", flush=True)
        for piece in s:
            print(printable(piece), end="", flush=True)
        print()
        answer = s.answer
    else:
        answer = lm.ask(frames, args.question, max_new_tokens=args.max_new_tokens, subtitles=subs)
    assert answer is not None
    if args.json:
        print(json.dumps(dict(answer.to_dict(), video=video)))  # ASCII: escapes control chars
        return 0
    if not stream:
        print(f"answer: {printable(answer.text)}")
    _print_report(answer)
    _toy_world_note(args, video)
    return 0


def _toy_world_note(args: argparse.Namespace, video: str) -> None:
    """The shipped toylab model knows only its toy world: say so when it answers another video."""
    from vlmctx.runtime.assets import sample_video

    if args.model == "toylab" and video != str(sample_video()) and not args.quiet:
        print(
            "note: toylab is a 1M-parameter model trained only on the toy lab's synthetic "
            "scenes (docs/toylab.md); about other videos its answers mean nothing.",
            file=sys.stderr,
        )


def _subtitles(args: argparse.Namespace) -> Any:
    """The ``--subtitles`` track (with ``--subtitle-tokens``), or None."""
    from vlmctx.errors import ConfigError

    if args.subtitle_tokens is not None and not args.subtitles:
        raise ConfigError("--subtitle-tokens needs --subtitles FILE")
    if args.subtitle_tokens is not None and args.subtitle_tokens < 1:
        raise ConfigError(f"--subtitle-tokens must be at least 1, got {args.subtitle_tokens}")
    if args.subtitles_placement is not None and not args.subtitles:
        raise ConfigError("--subtitles-placement needs --subtitles FILE")
    if not args.subtitles:
        return None
    from vlmctx.video.subtitles import Subtitles

    return Subtitles.load(
        args.subtitles,
        max_tokens=args.subtitle_tokens,
        placement=args.subtitles_placement or "auto",
    )


_VIRTUAL = re.compile(r"^(\d+)x(\d+)@(\d+(?:\.\d+)?)([smh]?)$")


def _video_info(video: str) -> Any:
    """Probe ``video``, or describe the hypothetical video ``WxH@DURATION`` (30 fps)."""
    import numpy as np

    from vlmctx.video import probe
    from vlmctx.video.types import VideoInfo

    m = _VIRTUAL.match(video)
    if m is None:
        return probe(video)
    w, h = int(m[1]), int(m[2])
    seconds = float(m[3]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[4]]
    n = int(round(seconds * 30))
    if w <= 0 or h <= 0 or n < 1:
        from vlmctx.errors import ConfigError

        raise ConfigError(f"hypothetical video {video!r} needs a positive size and duration")
    pts = np.arange(n, dtype=np.float64) / 30
    return VideoInfo(
        video, n, 30.0, seconds, w, h, 0, "none (hypothetical)", False, pts, np.zeros(1, np.int64)
    )


def _plan(args: argparse.Namespace, config: Any, video: str, question: str) -> Any:
    """Plan ``video`` under ``config`` from its probe and sampler selection (nothing decoded)."""
    from vlmctx.planner import plan_memory
    from vlmctx.video import SAMPLERS
    from vlmctx.video.reader import output_size

    info = _video_info(video)
    sel = SAMPLERS.create(config.sampler, **dict(config.sampler_params)).select(info)
    size = output_size(info, sel.resize, config.max_pixels)
    dtype = args.dtype if args.dtype != "auto" else _auto_dtype(args.device)
    return plan_memory(
        args.model,
        len(sel),
        size,
        question,
        dtype,
        sel.pts_s,
        info.duration_s,
        config.pooling,
        dict(config.pooling_params),
    )


def _auto_dtype(device: str) -> str:
    import torch

    gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "bfloat16" if gpu else "float32"


def add_stream_plan_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("streaming plan (--stream)")
    g.add_argument(
        "--stream",
        metavar="LENGTH",
        help="plan a live stream instead of VIDEO: 10h, 90m or WIDTHxHEIGHT@10h (1280x720 by "
        "default), read at --fps (1) and at most --max-pixels (448x448, as vlmctx live reads)",
    )
    g.add_argument(
        "--host-budget",
        type=memory_sizes,
        help="host budgets to plan, e.g. 16GiB,64GiB (default: half of this machine's free memory)",
    )
    g.add_argument(
        "--budget", type=positive_int, default=8192, help="device key/value tokens (8192)"
    )
    g.add_argument(
        "--chunk-frames", type=positive_int, default=2, help="frames pushed per chunk (2)"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from vlmctx.planner import check_memory_limit, parse_bytes, parse_memory_sizes

    if args.stream is not None:
        return _cmd_plan_stream(args)
    if args.video is None:
        raise ConfigError("give a VIDEO to plan, or --stream LENGTH to plan a live stream")
    if args.host_budget is not None:
        raise ConfigError("--host-budget plans a stream: add --stream LENGTH (e.g. --stream 10h)")
    config = context_from_args(args)
    sizes = parse_memory_sizes(args.fit) if args.fit is not None else None  # bad sizes fail first
    video = resolve_video(args.video)
    plan = _plan(args, config, video, args.question)
    fit = _fit(args, config, video, sizes) if sizes else None
    if args.json:
        print(json.dumps(dict(plan.to_dict(), config=config.to_dict(), fit=fit)))
    else:
        print(plan.table())
        if fit:
            print()
            print(_fit_text(fit))
    check_memory_limit(plan, parse_bytes(args.max_memory) if args.max_memory else None)
    return 0


def _cmd_plan_stream(args: argparse.Namespace) -> int:
    """``plan --stream``: the streaming session's tiers per hour (``vlmctx.planner.stream``)."""
    from vlmctx.planner import Planner, parse_memory_sizes
    from vlmctx.planner.stream import plan_stream, stream_table
    from vlmctx.streaming.tiers import default_host_budget

    if args.video is not None:
        raise ConfigError("--stream plans a live stream: drop VIDEO, or drop --stream")
    config = context_from_args(args)
    if config.pooling != "none" or config.position != "default":
        raise ConfigError("a streaming session runs without pooling or position schemes")
    sizes = parse_memory_sizes(args.host_budget) if args.host_budget else [default_host_budget()]
    dtype = args.dtype if args.dtype != "auto" else "bfloat16"
    plan = plan_stream(
        Planner(args.model),
        args.stream,
        args.fps if args.fps is not None else 1.0,
        budget_tokens=args.budget,
        host_budgets=sizes,
        chunk_frames=args.chunk_frames,
        dtype=dtype,
        max_pixels=config.max_pixels if args.max_pixels is not None else 448 * 448,
    )
    print(json.dumps(plan.to_dict()) if args.json else stream_table(plan))
    return 0


def _fit(args: argparse.Namespace, config: Any, video: str, sizes: list[int]) -> dict:
    """The fit table as data: most frames per pooler and memory size
    (``vlmctx.planner.fit_table``)."""
    from vlmctx.planner import Planner, fit_table, human_bytes
    from vlmctx.video.reader import output_size

    info = _video_info(video)
    size = output_size(info, None, config.max_pixels)
    dtype = args.dtype if args.dtype != "auto" else _auto_dtype(args.device)
    planner = Planner(args.model)
    rows = fit_table(
        planner, size, info.duration_s, sizes, dtype, args.question, max_frames=info.num_frames
    )
    nbytes = {"float32": 4, "float64": 8}.get(dtype, 2)
    kv, act = planner.per_token(nbytes)
    weights, _ = planner.weights(nbytes)
    window = planner.adapter.settings.visual_window
    none = next(r for r in rows if r.pooling == "none")
    return {
        "model": args.model,
        "dtype": dtype,
        "frame_size": list(size),
        "duration_s": info.duration_s,
        "video_frames": info.num_frames,
        "memory_sizes": [human_bytes(b) for b in sizes],
        "weights_bytes": weights,
        "kv_bytes_per_token": kv,
        "activation_bytes_per_token": act,
        "rows": [
            {"pooling": r.pooling, "tokens_per_frame": r.per_frame, "frames": list(r.frames)}
            for r in rows
        ],
        "visual_window": window,
        "visual_window_frames": None
        if window is None
        else int(window // max(none.per_frame, 1e-9)),
    }


def _fit_text(fit: dict) -> str:
    from vlmctx.planner import human_bytes

    h, w = fit["frame_size"]
    lines = [
        f"most frames that fit ({fit['model']}, {fit['dtype']}, frames {h}x{w} spread over "
        f"{fit['duration_s']:.0f} s; the video has {fit['video_frames']:,} frames)",
        f"{'pooler':<12} {'tokens/frame':>12} " + " ".join(f"{b:>11}" for b in fit["memory_sizes"]),
    ]
    for r in fit["rows"]:
        cells = []
        for n in r["frames"]:
            cells.append(
                "weights" if n is None else (f"{n:,}" + ("*" if n == fit["video_frames"] else ""))
            )
        lines.append(
            f"{r['pooling']:<12} {r['tokens_per_frame']:>12.1f} "
            + " ".join(f"{c:>11}" for c in cells)
        )
    lines += [
        "('weights': the weights alone do not fit; '*': every frame of the video fits)",
        "position schemes change position ids and RoPE frequencies, never token counts or the KV "
        "cache: every scheme fits the same frames.",
        f"weights {human_bytes(fit['weights_bytes'])}; per token "
        f"{human_bytes(fit['kv_bytes_per_token'])} KV cache + "
        f"{human_bytes(fit['activation_bytes_per_token'])} prefill activations.",
    ]
    if fit["visual_window"]:
        lines.append(
            f"visual window {fit['visual_window']:,} tokens: without pooling it holds about "
            f"{fit['visual_window_frames']:,} frames; vcwe and mrope_pp act only beyond it."
        )
    return "\n".join(lines)


def _print_report(answer: Any) -> None:
    stamps = ", ".join(f"#{i}@{t:.2f}s" for i, t in answer.frames)
    print(f"frames ({len(answer.frames)}, backend {answer.backend}): {stamps}")
    print(f"visual tokens: {answer.visual_tokens}   total input tokens: {answer.total_tokens}")
    stages = "  ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items())
    scope = MEMORY_SCOPES.get(answer.peak_memory_scope, answer.peak_memory_scope)
    print(f"time: {stages}   {scope}: {answer.peak_memory_bytes / 2**20:.0f} MiB")


# what Answer.peak_memory_bytes measured (Answer.peak_memory_scope), in words
MEMORY_SCOPES = {
    "call": "peak GPU memory of this call",
    "process": "peak process memory (RSS since start)",
}


_SEEK_WORDS = {
    "pts": "by timestamp (indexed container)",
    "bytes": "by keyframe byte offset (no index: MPEG-TS/PS)",
    "none": "none: frames counted from the start (raw stream, no timestamps)",
}


def cmd_info(args: argparse.Namespace) -> int:
    from vlmctx.video import probe
    from vlmctx.video.reader import UNCHECKED, available_backends

    info = probe(resolve_video(args.video))
    backends = available_backends(load=args.check_backends)
    data = {
        "path": info.path,
        "frames": info.num_frames,
        "header_frames": info.header_num_frames,
        "fps": round(info.fps, 4),
        "duration_s": round(info.duration_s, 4),
        "size": f"{info.width}x{info.height}",
        "rotation": info.rotation,
        "codec": info.codec,
        "variable_frame_rate": info.is_vfr,
        "keyframes": len(info.keyframes),
        "mean_gop": round(info.num_frames / max(len(info.keyframes), 1), 1),
        "first_pts_s": round(float(info.pts_s[0]), 4) if info.num_frames else None,
        "seek": _SEEK_WORDS[info.seek],  # how decoders reach a frame (docs/video.md)
        "partial_frames": info.partial_frames,  # frames of a cut-short file left out
        "backends": {k: _backend_state(v, UNCHECKED) for k, v in backends.items()},
    }
    if args.json:
        print(json.dumps(data))
    else:
        for key, value in data.items():
            if key == "backends":
                for name, state in value.items():
                    print(f"backend {name:<11} {state}")
            else:
                print(f"{key:<20} {value}")
    return 0


def _backend_state(reason: str | None, unchecked: str) -> str:
    return "ok" if reason is None else reason if reason == unchecked else f"unavailable: {reason}"


def _registries() -> dict[str, Any]:
    import vlmctx.models  # noqa: F401  (registers adapters)
    from vlmctx.models import ADAPTERS
    from vlmctx.video import SAMPLERS

    regs: dict[str, Any] = {"samplers": SAMPLERS, "model families": ADAPTERS}
    for mod, attr, label in (
        ("vlmctx.pooling", "POOLERS", "poolers"),
        ("vlmctx.position", "POSITIONS", "position schemes"),
    ):
        try:
            regs[label] = getattr(__import__(mod, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
    return regs


def cmd_ls(args: argparse.Namespace) -> int:
    import inspect

    from vlmctx.models import SHIPPED, tiny_names

    out: dict[str, Any] = {}
    for label, reg in _registries().items():
        out[label] = {
            e.name: {
                "summary": e.summary,
                "parameters": {
                    k: (None if v is inspect.Parameter.empty else v)
                    for k, v in e.parameters().items()
                },
            }
            for e in reg
        }
    families = out["model families"]
    out["tiny models (offline, random weights)"] = {
        name: {
            "summary": f"{families[name.removeprefix('tiny-')]['summary'].split(' (')[0]} "
            "shrunk to 2 layers, random weights: the real code path in seconds; answers "
            "are noise"
        }
        for name in tiny_names()
    }
    out["shipped models (offline, trained here)"] = {
        name: {
            "summary": f"1M-parameter Qwen2-VL trained on the toy lab's synthetic scenes; "
            f"answers about them (docs/toylab.md); {path}"
        }
        for name, path in SHIPPED.items()
    }
    out.update(_room_listings())
    if args.json:
        json.dump(out, sys.stdout, default=str)
        print()
        return 0
    _print_listing(out)
    print(
        "\nparameters in parentheses (name=default; no default: required); set them with "
        "--sampler-arg/--pooling-arg/--position-arg KEY=VALUE (tasks: --task-arg).\n"
        "benchmark presets: vlmctx eval --tasks list"
    )
    return 0


def _room_listings() -> dict[str, Any]:
    """Sections the rooms add to ``vlmctx ls`` (entry-point group ``vlmctx.listings``, e.g. the
    eval tasks), so the library lists them without importing the rooms; a room whose extra is
    missing is skipped with a note in the log."""
    from importlib.metadata import entry_points

    sections: dict[str, Any] = {}
    for ep in entry_points(group="vlmctx.listings"):
        try:
            label, entries = ep.load()()
        except Exception as exc:  # a broken or uninstalled room must not break `ls`
            log.warning("vlmctx ls: %s not listed (%s)", ep.name, exc)
            continue
        sections[label] = entries
    return sections


def _print_listing(out: dict[str, Any]) -> None:
    width = max(len(name) for entries in out.values() for name in entries) + 2
    for label, entries in out.items():
        print(f"{label}:")
        for name, e in entries.items():
            params = ", ".join(
                k if v is None else f"{k}={v!r}" for k, v in e.get("parameters", {}).items()
            )
            summary = e.get("summary", "")
            print(
                f"  {name:<{width}} {summary}" + (f"\n  {'':<{width}} ({params})" if params else "")
            )
