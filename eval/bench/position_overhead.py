"""Forward-time overhead of each position scheme vs the unpatched model, side by side.

A random mid-size Qwen2-VL language model (M-RoPE, so every scheme applies, ``mrope_pp``
included) runs one prefill forward over a text + video + text sequence of ``--tokens`` tokens.
``stock`` is transformers' own rotary with integer ids from ``default``; every other row swaps
in ``SchemeRotaryEmbedding`` with the scheme's plan and float ids. Rounds alternate the cases so
that drift on a shared machine hits all of them alike; the table gives the median per case, its
ratio to ``stock`` (goal <= 1.03) and the rotary module's own time.

    python -m vlmctx_eval.bench.position_overhead --tokens 16384 --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from vlmctx.position import (
    POSITIONS,
    RopeSpec,
    SchemeRotaryEmbedding,
    TokenLayout,
    batch_positions,
)

CASES: list[tuple[str, str, dict]] = [
    ("stock", "default", {}),
    ("default", "default", {}),
    ("pi", "pi", {"factor": 4.0}),
    ("ntk", "ntk", {"factor": 4.0}),
    ("yarn", "yarn", {"factor": 4.0}),
    ("entropy_abf", "entropy_abf", {"original_window": 4096}),
    ("vcwe", "vcwe", {"visual_window": 4096}),
    ("vcwe (visual only)", "vcwe", {"visual_window": 4096, "apply_to": "visual"}),
    ("v2pe", "v2pe", {"delta": 0.25}),
    ("mrope_pp", "mrope_pp", {"factor": 4.0}),
]


def build_model(args: argparse.Namespace, device: torch.device, dtype: torch.dtype):
    from transformers import Qwen2VLTextConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLTextModel

    heads = args.hidden // 64
    cfg = Qwen2VLTextConfig(
        vocab_size=1024,
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 11 // 4,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 4),
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]},
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = Qwen2VLTextModel(cfg).to(device=device, dtype=dtype).eval()
    spec = RopeSpec(64, 1e6, 32768, (8, 12, 12), family="qwen2_vl")
    return model, spec


def build_layout(tokens: int) -> TokenLayout:
    """64 text tokens, a video of 16x16-token frames filling the rest, 64 text tokens."""
    frames = max(1, (tokens - 128) // 256)
    types = [0] * 64 + [2] * (frames * 256) + [0] * 64
    return TokenLayout.from_types(types, [(frames, 16, 16)])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def _time(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def prepare(model, spec, layout, device):
    """Per case: (rotary module, float or int position ids) ready for a forward."""
    stock = model.rotary_emb
    out = {}
    for label, name, params in CASES:
        plan = POSITIONS.create(name, **params).positions(layout, spec)
        batch = batch_positions([plan], torch.ones(1, plan.n))
        if label == "stock":
            out[label] = (stock, batch.position_ids.long().to(device))
            continue
        rot = SchemeRotaryEmbedding.from_spec(spec).to(device)
        rot.set_positions(batch)
        out[label] = (rot, batch.position_ids.to(device))
    return out


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, spec = build_model(args, device, dtype)
    layout = build_layout(args.tokens)
    cases = prepare(model, spec, layout, device)
    embeds = torch.randn(1, layout.n, args.hidden, device=device, dtype=dtype)
    mask = torch.ones(1, layout.n, dtype=torch.long, device=device)
    fwd: dict[str, list[float]] = {k: [] for k in cases}
    rot: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.warmup + args.repeats):
        for label, (module, pos) in cases.items():
            model.rotary_emb = module

            def forward(pos=pos):
                return model(inputs_embeds=embeds, position_ids=pos, attention_mask=mask)

            t_fwd = _time(forward, device)
            t_rot = _time(lambda module=module, pos=pos: module(embeds, pos), device)
            if r >= args.warmup:
                fwd[label].append(t_fwd)
                rot[label].append(t_rot)
    base = statistics.median(fwd["stock"])
    rows = [
        {
            "case": label,
            "forward_ms": 1e3 * statistics.median(fwd[label]),
            "ratio": statistics.median(fwd[label]) / base,
            "rotary_ms": 1e3 * statistics.median(rot[label]),
        }
        for label in cases
    ]
    setup = dict(
        tokens=layout.n,
        hidden=args.hidden,
        layers=args.layers,
        device=str(device),
        dtype=str(dtype),
        repeats=args.repeats,
        torch=torch.__version__,
    )
    return {"setup": setup, "rows": rows}


def to_markdown(result: dict) -> str:
    s = result["setup"]
    lines = [
        f"Position-scheme overhead: {s['tokens']} tokens, Qwen2-VL LM hidden {s['hidden']}, "
        f"{s['layers']} layers, {s['device']} {s['dtype']}, median of {s['repeats']}.",
        "",
        "| case | forward ms | ratio vs stock | rotary ms |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} | {r['forward_ms']:.1f} | {r['ratio']:.3f} | {r['rotary_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=16384)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "position_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "position_overhead.md").write_text(to_markdown(result))
    print(to_markdown(result))  # noqa: T201 - a front-end script reports on stdout


if __name__ == "__main__":
    main()
