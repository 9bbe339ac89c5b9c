"""GPU: real architectures at full size (random weights) — prefill memory and time per pooler,
every position scheme's overhead, and the planner next to the measurement.

For each architecture card given (``vlmctx.models.cards``; default Qwen2.5-VL-7B and
Qwen3-VL-8B, which fit one 141 GB H200 in bf16 with room for 1024 frames pooled), a randomly
initialised model of the card's exact configuration is built on the device in bf16 with
attention ``sdpa``, next to the family's real processor with the card's settings and the local
byte tokenizer (what ``vlmctx plan`` uses offline, so planned and measured tokens are the same
prompt). Per frame count (default 64/256/1024 random frames of ``--side`` px) and pooler
(``none``, ``progressive``, ``hybrid``): CUDA peak allocated bytes (weights included) and time of
encode + pool + one prefill forward with cache, measured tokens / KV (+ linear-attention state)
bytes vs the planner's. At the middle frame count, every position scheme's prefill time with
its automatic settings vs ``default`` (its overhead). Cases run in ascending size; a case that
runs out of memory is recorded as ``oom`` and the larger ones of that pooler are skipped; once
``--time-budget`` seconds have passed the remaining cases are recorded as ``skipped``.

With ``--checkpoint DIR`` (a real checkpoint folder), also: identity settings of every scheme
reproduce the unpatched logits on that model (bf16, float32 in the dry run; exact equality), and
a small V-NIAH run (``vlmctx_eval.tasks.vniah``) with ``default`` vs every applicable scheme's
automatic setting.

With ``--prefix-reuse`` (issue 28), also per card: 15 questions about one clip at the middle
frame count, the prefix cache off and on alternating question by question
(:mod:`vlmctx_eval.bench.prefix_reuse`): total time on/off at k = 1, 3 and 15, prefill tokens
and the CUDA peak per question.

Budget: <= 8 minutes on one H200. Writes ``results/gpu_real.{json,md}``.

    python -m vlmctx_eval.bench.gpu_real [--cards ID,ID] [--frames 64,256,1024] [--checkpoint DIR]
    python -m vlmctx_eval.bench.gpu_real --dry-run   # CPU, shrunk configs: every code path
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
CARDS = ["Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"]
POOLERS = ["none", "progressive", "hybrid"]
QUESTION = "What happens in the video?"


def _shrink(config: dict[str, Any]) -> dict[str, Any]:
    """--dry-run: the card's architecture with 2 narrow layers (head_dim 32), 2 vision blocks and
    a vocabulary just above the byte tokenizer's."""
    cfg = copy.deepcopy(config)
    t, v = cfg["text_config"], cfg.get("vision_config", {})
    t.update(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        vocab_size=1024,
    )  # vocab: byte ids < 300
    rope = t.get("rope_parameters", {})
    if "mrope_section" in rope:
        rope["mrope_section"] = [6, 5, 5] if rope.get("mrope_interleaved") else [4, 6, 6]
    if "depth" in v:
        v.update(depth=2, hidden_size=64, intermediate_size=128, num_heads=2)
        v.update({k: [1] for k in ("fullatt_block_indexes",) if k in v})
        v.update({k: [0, 1] for k in ("deepstack_visual_indexes",) if k in v})
        for k in ("out_hidden_size", "embed_dim"):
            if k in v:
                v[k] = 128 if k == "out_hidden_size" else 64
        if "embed_dim" in v:
            v["hidden_size"] = 128
    elif "num_hidden_layers" in v:
        v.update(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=2)
    return cfg


def build(card: Any, device: str, dry: bool, dtype: str = "bfloat16") -> Any:
    """Random model of ``card`` (shrunk under --dry-run) in ``dtype`` on ``device``, as a
    ``Loaded``."""
    import torch
    import transformers

    from vlmctx.models import ADAPTERS, Loaded
    from vlmctx.models.tiny import byte_token_ids

    cfg = _shrink(card.config) if dry else copy.deepcopy(card.config)
    cfg.update(byte_token_ids(card.family))  # the local byte tokenizer's special ids
    config = getattr(transformers, card.config_class)(**cfg)
    config._attn_implementation = "sdpa"
    for sub in ("text_config", "vision_config"):
        if hasattr(config, sub):
            getattr(config, sub)._attn_implementation = "sdpa"
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            model = getattr(transformers, card.model_class)(config).eval()
    finally:
        torch.set_default_dtype(old)
    adapter = ADAPTERS.create(card.family)
    processor = card.build_processor()
    adapter.prompt.prepare_processor(processor)
    return Loaded(model, processor, adapter, card.hub_id), config


def _clip(frames: int, side: int) -> Any:
    import numpy as np

    from vlmctx.video.types import Frames, VideoInfo

    pts = np.arange(frames, dtype=np.float64) * 2.0  # 0.5 fps sampling of a long video
    duration = float(pts[-1] + 2.0)
    info = VideoInfo(
        "bench", frames, 0.5, duration, side, side, 0, "", False, pts, np.zeros(1, np.int64)
    )
    data = np.random.default_rng(frames).integers(0, 255, (frames, side, side, 3), np.uint8)
    return Frames(data, np.arange(frames), pts, "bench", info, sample_fps=0.5)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> int | None:
    import torch

    return int(torch.cuda.max_memory_allocated()) if device.startswith("cuda") else None


def _cache_bytes(cache: Any) -> tuple[int, int]:
    """(K/V bytes of attention layers, linear-attention state bytes) of a transformers cache."""
    kv = sum(
        t.numel() * t.element_size()
        for la in cache.layers
        if hasattr(la, "keys")
        for t in (la.keys, la.values)
    )
    state = sum(
        t.numel() * t.element_size()
        for la in cache.layers
        for d in (getattr(la, "conv_states", {}), getattr(la, "recurrent_states", {}))
        for t in d.values()
        if t is not None
    )
    return kv, state


def prefill(loaded: Any, inputs: Any, pooler: str, device: str, extra: dict | None = None) -> dict:
    """Encode + pool + one forward with cache; peak bytes, seconds, tokens, cache bytes."""
    import torch

    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS

    _peak_reset(device)
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        if extra is None:
            kw, _, visual = pooled_generate_kwargs(loaded, inputs, POOLERS.create(pooler))
            kw.pop("input_ids")
            tokens = kw["inputs_embeds"].shape[1]
        else:
            kw, visual = {**inputs, **extra}, None
            tokens = inputs["input_ids"].shape[1]
        cache = loaded.model(**kw, use_cache=True, logits_to_keep=1).past_key_values
        _sync(device)
    seconds = time.perf_counter() - t0
    kv, state = _cache_bytes(cache)
    return dict(
        seconds=seconds, peak=_peak(device), tokens=int(tokens), visual=visual, kv=kv, state=state
    )


def _oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def bench_card(hub_id: str, args: argparse.Namespace, deadline: float) -> dict:
    """Every (frames, pooler) case and the schemes' overhead for one card."""
    from vlmctx.models.cards import card
    from vlmctx.planner import Planner

    c = card(hub_id)
    loaded, _ = build(c, args.device, args.dry_run, args.dtype)
    planner = Planner(hub_id)
    if args.dry_run:  # plan the shrunk config actually built (weights from its config)
        planner.config, planner.card = loaded.model.config, None
    weights = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    rows, dead = [], set()
    frame_counts = [int(f) for f in args.frames.split(",")]
    for n in frame_counts:
        clip = _clip(n, args.side)
        count = planner.count(n, (args.side, args.side), QUESTION, clip.pts_s, clip.info.duration_s)
        inputs = loaded.adapter.prompt.build_inputs(loaded, QUESTION, clip).to(args.device)
        for pooler in POOLERS:
            row: dict[str, Any] = dict(frames=n, pooler=pooler)
            plan = planner.plan(count, pooler, None, args.dtype)
            row.update(
                plan_tokens=plan.total_tokens,
                plan_kv=plan.kv_cache_bytes,
                plan_state=plan.state_bytes,
                plan_peak=plan.peak_prefill_bytes,
            )
            if pooler in dead or time.monotonic() > deadline:
                row["status"] = "skipped" if pooler not in dead else "skipped (smaller oom)"
            else:
                try:
                    row.update(prefill(loaded, inputs, pooler, args.device), status="ok")
                except Exception as exc:  # noqa: BLE001 - only OOM is expected, others re-raised
                    if not _oom(exc):
                        raise
                    dead.add(pooler)
                    row["status"] = "oom"
            rows.append(row)
        del inputs
    overhead = schemes_overhead(loaded, frame_counts[len(frame_counts) // 2], args, deadline)
    del loaded
    return dict(
        card=hub_id, parameters=c.parameters, weights_bytes=weights, rows=rows, schemes=overhead
    )


def schemes_overhead(loaded: Any, n: int, args: argparse.Namespace, deadline: float) -> list:
    """Prefill seconds of every applicable scheme (automatic settings) vs ``default``."""
    from vlmctx.config import ContextConfig
    from vlmctx.models.positioning import applied
    from vlmctx.position import POSITIONS

    inputs = loaded.adapter.prompt.build_inputs(loaded, QUESTION, _clip(n, args.side)).to(
        args.device
    )
    out = []
    for name in POSITIONS.names():
        if POSITIONS.get(name).requires_mrope and not loaded.adapter.positions.mrope:
            continue
        if time.monotonic() > deadline:
            out.append(dict(scheme=name, frames=n, status="skipped"))
            continue
        with applied(loaded, inputs, ContextConfig(position=name)) as extra:
            info = extra.pop("_position_info", None)
            res = prefill(loaded, inputs, "none", args.device, extra)
        out.append(
            dict(
                scheme=name,
                frames=n,
                seconds=res["seconds"],
                peak=res["peak"],
                info=_jsonable(info),
                status="ok",
            )
        )
    base = next((r["seconds"] for r in out if r["scheme"] == "default" and "seconds" in r), None)
    for r in out:
        if base and "seconds" in r:
            r["vs_default"] = r["seconds"] / base
    return out


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def checkpoint_checks(folder: str, args: argparse.Namespace) -> dict:
    """On a real checkpoint: identity settings == unpatched logits (every applicable scheme),
    and a small V-NIAH with ``default`` vs each scheme's automatic setting."""
    import tempfile

    import torch

    from vlmctx.config import ContextConfig
    from vlmctx.engine import VideoLM
    from vlmctx.models.positioning import applied
    from vlmctx.position import POSITIONS, identity_params
    from vlmctx_eval.harness.runner import RunOptions, evaluate
    from vlmctx_eval.tasks.vniah.task import VNIAH

    lm = VideoLM.load(folder, ContextConfig(), device=args.device, dtype=getattr(torch, args.dtype))
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, QUESTION, _clip(8, args.side)).to(
        args.device
    )
    identity = {}
    with torch.inference_mode():
        ref = lm.loaded.model(**inputs).logits
        for name in POSITIONS.names():
            if POSITIONS.get(name).requires_mrope and not lm.adapter.positions.mrope:
                continue
            cfg = ContextConfig(position=name, position_params=identity_params(name))
            with applied(lm.loaded, inputs, cfg) as extra:
                extra.pop("_position_info", None)
                identity[name] = bool(torch.equal(lm.loaded.model(**inputs, **extra).logits, ref))
    vniah = {}
    size = 56 if args.dry_run else 336
    frames, depths = ("4", "0.5") if args.dry_run else ("32,128", "0,0.5,1")
    with tempfile.TemporaryDirectory() as d:
        task = VNIAH(f"{d}/data", frames=frames, depths=depths, size=size)
        for name in ["default", *(n for n in identity if n != "default")]:
            cfg = ContextConfig(
                sampler="fps", sampler_params={"fps": 1.0, "min_frames": 1}, position=name
            )  # every frame of the 1 fps haystack
            model = lm.with_config(cfg)
            res = evaluate(model, {"vniah": task}, Path(d) / name, RunOptions(progress=False), {})
            vniah[name] = _jsonable((res or {}).get("vniah", res))
    return dict(checkpoint=folder, identity=identity, vniah=vniah)


def _mib(x: Any) -> str:
    return "-" if x is None else f"{x / 2**20:,.1f}"


def markdown(result: dict) -> str:
    """The results as tables (one per card), with how they were made."""
    lines = [
        f"Real architectures at full size, random weights, {result['dtype']}, sdpa "
        f"(`python -m vlmctx_eval.bench.gpu_real{' --dry-run' if result['dry_run'] else ''}`)"
        f"; device: {result['device']}; {result['side']}x{result['side']} random frames; "
        "peak = CUDA max allocated over encode + pool + one prefill forward, weights "
        "included. Method: the script's docstring.",
        "",
    ]
    for cr in result["cards"]:
        lines += [
            f"### {cr['card']} ({cr['parameters']:,} parameters, weights "
            f"{_mib(cr['weights_bytes'])} MiB)",
            "",
            "| frames | pooler | status | tokens (planned) | visual | KV+state MiB (planned) "
            "| peak MiB | planned peak MiB | planned/measured | prefill s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in cr["rows"]:
            ok = r["status"] == "ok"
            cache = r["kv"] + r["state"] if ok else None
            ratio = f"{r['plan_peak'] / r['peak']:.2f}" if ok and r.get("peak") else "-"
            secs = f"{r['seconds']:.2f}" if ok else "-"
            lines.append(
                f"| {r['frames']} | {r['pooler']} | {r['status']} | "
                f"{r.get('tokens', '-')} ({r['plan_tokens']}) | {r.get('visual') or '-'} | "
                f"{_mib(cache)} ({_mib(r['plan_kv'] + r['plan_state'])}) | {_mib(r.get('peak'))} "
                f"| {_mib(r['plan_peak'])} | {ratio} | {secs} |"
            )
        lines += [
            "",
            "| scheme | frames | prefill s | vs default | what it did |",
            "|---|---|---|---|---|",
        ]
        for s in cr["schemes"]:
            if s["status"] != "ok":
                lines.append(f"| {s['scheme']} | {s['frames']} | {s['status']} | - | - |")
                continue
            lines.append(
                f"| {s['scheme']} | {s['frames']} | {s['seconds']:.3f} | "
                f"{s.get('vs_default', 0):.2f}x | {json.dumps(s['info'])[:120]} |"
            )
        lines.append("")
    if result.get("checkpoint"):
        ck = result["checkpoint"]
        lines += [
            f"### checkpoint {ck['checkpoint']}",
            "",
            "identity settings reproduce the unpatched logits: "
            + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in ck["identity"].items()),
            "",
            "| V-NIAH scheme | exact match % | contains % | needle seen % |",
            "|---|---|---|---|",
        ]
        for name, res in ck["vniah"].items():
            sc = ((res or {}).get("results", {}).get("vniah", {}) or {}).get("scores", {})
            lines.append(
                f"| {name} | {sc.get('exact_match', '-')} | {sc.get('contains', '-')} | "
                f"{sc.get('needle_seen', '-')} |"
            )
        lines.append("")
    for pr in result.get("prefix_reuse", []):
        lines += [f"### prefix reuse: {pr['card']}, {pr['frames']} frames", ""]
        if "totals" not in pr:
            lines += [f"status: {pr.get('status')}", ""]
            continue
        lines += [
            "| k | off s | on s | on/off | prefill off | prefill on |",
            "|---|---|---|---|---|---|",
        ]
        for k, t in pr["totals"].items():
            lines.append(
                f"| {k} | {t['off_s']:.3f} | {t['on_s']:.3f} | {t['ratio']:.3f} | "
                f"{t['prefill_off']} | {t['prefill_on']} |"
            )
        lines += ["", f"k = 1 alone (median on/off): {pr['k1_overhead']['median_ratio']:.3f}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vlmctx_eval.bench.gpu_real",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cards", default=",".join(CARDS), help="hub ids with architecture cards")
    p.add_argument("--frames", default="64,256,1024", help="frame counts, ascending")
    p.add_argument("--side", type=int, default=448, help="frame side in pixels")
    p.add_argument("--checkpoint", help="a real checkpoint folder: identity + small V-NIAH")
    p.add_argument("--time-budget", type=float, default=420.0, help="seconds for the cases")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="CPU, shrunk configs, 8/16 frames")
    p.add_argument(
        "--prefix-reuse",
        action="store_true",
        help="also time 15 questions per clip with the prefix cache off vs on (issue 28)",
    )
    p.add_argument("-o", "--out", type=Path, default=RESULTS, help="folder for gpu_real.{json,md}")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except Exception as exc:  # noqa: BLE001 - one line, exit 2 (bad card, missing GPU, bad dir)
        from vlmctx.errors import VlmctxError

        if not isinstance(exc, (VlmctxError, ValueError, OSError, RuntimeError)):
            raise
        print(
            f"gpu_real: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


def prefix_reuse_card(hub_id: str, args: argparse.Namespace) -> dict[str, Any]:
    """k questions about one clip (middle frame count), prefix cache off vs on, alternating."""
    from types import SimpleNamespace

    import torch

    from vlmctx.config import ContextConfig
    from vlmctx.engine import VideoLM
    from vlmctx.engine.prefix_cache import PrefixCache
    from vlmctx.models.cards import card
    from vlmctx_eval.bench.prefix_reuse import k1_overhead, series

    counts = [int(f) for f in args.frames.split(",")]
    n = counts[len(counts) // 2]
    loaded, _ = build(card(hub_id), args.device, args.dry_run, args.dtype)
    cfg = ContextConfig()
    on = VideoLM(loaded, cfg, hub_id, args.device, prefix_cache=PrefixCache())
    off = VideoLM(loaded, cfg, hub_id, args.device, prefix_cache=0)
    clip = _clip(n, args.side)
    opts = SimpleNamespace(max_new_tokens=1, repeats=3)
    try:
        res = series(on, off, clip, opts)
        res["k1_overhead"] = k1_overhead(on, off, clip, opts)
    except torch.OutOfMemoryError:
        res = {"status": "oom"}
    del on, off, loaded
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"card": hub_id, "frames": n, **res}


def _run(args: argparse.Namespace) -> int:
    import torch

    from vlmctx.errors import ConfigError
    from vlmctx.models.cards import card

    # bf16 on the GPU; the CPU dry run uses float32 (CPU bf16 conv3d/matmul kernels are ~10x
    # slower and the dry run checks code paths, not numbers)
    args.dtype = "float32" if args.dry_run else "bfloat16"
    if args.dry_run:
        args.device = args.device or "cpu"
        if args.frames == "64,256,1024":
            args.frames, args.side = "8,16", 56
    args.device = args.device or "cuda"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("no CUDA device: run on a GPU, or use --dry-run (CPU, shrunk configs)")
    if args.checkpoint and not (Path(args.checkpoint) / "config.json").is_file():
        raise ConfigError(f"--checkpoint {args.checkpoint!r} has no config.json")
    ids = [s.strip() for s in args.cards.split(",") if s.strip()]
    for hub_id in ids:
        card(hub_id)  # unknown ids fail before any work
    deadline = time.monotonic() + args.time_budget
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    result: dict[str, Any] = dict(
        dry_run=args.dry_run,
        device=device,
        dtype=args.dtype,
        side=args.side,
        frames=args.frames,
        cards=[],
    )
    for hub_id in ids:
        result["cards"].append(bench_card(hub_id, args, deadline))
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if args.prefix_reuse:
        result["prefix_reuse"] = [prefix_reuse_card(h, args) for h in ids]
    if args.checkpoint:
        result["checkpoint"] = checkpoint_checks(args.checkpoint, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_real.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "gpu_real.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
