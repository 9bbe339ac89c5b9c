"""Markdown and plot of ``streaming_endless`` results (kept apart from the measurement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIB = 2**20


def flat(values: list[float]) -> float | None:
    """(max - min) / min over the values: how far from flat a series is."""
    return (max(values) - min(values)) / min(values) if values and min(values) > 0 else None


def memory_lines(res: dict[str, Any]) -> list[str]:
    mem = res["memory"]
    after = [r for r in mem["samples"] if r["minute"] >= 60]
    lines = [
        f"Memory run: {res['hours']:g} h of stream, {mem['wall_s']:.0f} s wall "
        f"({mem['push_s']:.0f} s in push). Sampled every {res['sample_min']:g} min of stream:",
        "",
        "| stream | device KV (KiB) | host total (KiB) | host KV tier (KiB) | compact tier (KiB) "
        "| kept by device/host blocks (KiB) | host KV blocks | compact entries | merges | RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in mem["samples"]:
        if r["minute"] % 60 and r["minute"] not in (10, 30):
            continue
        lines.append(
            f"| {r['minute'] / 60:.2f} h | {r['device_kv_bytes'] / 1024:.0f} | "
            f"{r['host_bytes'] / 1024:.0f} | {r['host_kv_bytes'] / 1024:.0f} | "
            f"{r['compact_bytes'] / 1024:.0f} | {r['kept_bytes'] / 1024:.0f} | "
            f"{r['host_kv_blocks']} | {r['compact_blocks']} | {r['compact_merges']} | "
            f"{r['rss_bytes'] / MIB:.0f} |"
        )
    if after:
        lines += ["", "From 1 h on (all samples): " + ", ".join(
            f"{name} {100 * v:.1f}% from flat" for name, key in (
                ("device KV", "device_kv_bytes"), ("host total", "host_bytes"),
                ("process RSS", "rss_bytes"))
            if (v := flat([r[key] for r in after])) is not None
        ) + " ((max - min) / min)."]  # fmt: skip
    lines += [
        "",
        "| stream | ask p50 wall (ms) | ask min wall (ms) | ask p50 CPU (ms) | ask min CPU (ms) "
        "| retrieval step p50 wall (ms) | entries scored | retrieved from | needle (asked now) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for a in mem["asks"]:
        n = a["needle"]
        lines.append(
            f"| {a['hour']:g} h | {1000 * a['ask_s_median']:.0f} | {1000 * a['ask_s_min']:.0f} | "
            f"{1000 * a.get('ask_cpu_s_median', float('nan')):.0f} | "
            f"{1000 * a.get('ask_cpu_s_min', float('nan')):.0f} | "
            f"{1000 * a['retrieve_s_median']:.0f} | {a['entries_scored']} | "
            f"{', '.join(a['retrieved_tiers']) or '-'} | {n['prediction']!r} "
            f"({'right' if n['correct'] else 'wrong'}, needle block "
            f"{'retrieved' if n['retrieved'] else 'not retrieved'}) |"
        )
    for key, what in (("ask_s_median", "wall"), ("ask_cpu_s_median", "CPU")):
        asks = {a["hour"]: a[key] for a in mem["asks"] if key in a}
        if 1 in asks and max(asks) > 1:
            last = max(asks)
            lines += ["", f"Ask p50 ({what}) at {last:g} h / at 1 h: {asks[last] / asks[1]:.2f}x."]
    return lines


def real_width_lines(r: dict[str, Any]) -> list[str]:
    st = r["stats"]
    return [
        f"Real widths: `{r['model']}` (the widths of {r['card']}, {r['layers_here']} language "
        f"layer(s) of {r['layers_card']}), bf16, 2-frame chunks of 448x448 noise, host budget "
        f"8 MiB: {r['token_bytes_here']:,} B of key/values per token here, "
        f"{r['token_bytes_scaled_to_card']:,} B scaled to the card's layers (plan: "
        f"{r['plan_kv_per_token']:,} B); {r['block_tokens'][0]} cached tokens per chunk (plan: "
        f"{2 * r['plan_tokens_per_frame']:g} visual + markup); a block's compact part "
        f"{r['compact_bytes_per_block']:,} B (frames kept at {r['kept_frame_shape'][1]}x"
        f"{r['kept_frame_shape'][2]}, plan input {r['plan_input_size'][0]}x"
        f"{r['plan_input_size'][1]}). After {len(r['block_tokens'])} chunks: "
        f"{st['host_kv_blocks']} blocks as key/values ({st['host_kv_bytes'] / 2**20:.1f} MiB), "
        f"{st['compact_blocks']} compact ({st['compact_bytes'] / 2**20:.1f} MiB), host total "
        f"{st['host_bytes'] / 2**20:.1f} MiB of 8 MiB; a question retrieved from "
        f"{', '.join(r['retrieved_tiers']) or 'nothing'}.",
    ]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Endless stream: three-tier memory over hours (toylab)",
        "",
        " and ".join(f"`{c}`" for c in res.get("commands", [res["command"]]))
        + f" — started {res['started']}; toylab (Qwen2-VL, 4 layers) on CPU, "
        f"fp32, 1 thread; 1 fps, {res['chunk_frames']} frames per chunk (18 cached tokens), "
        f"frames rendered at 128x96 on the fly. Tiered session: device budget {res['budget']} "
        f"tokens ({res['retrieve_tokens']} for retrieval, top-{res['top_k']}), host budget "
        f"{res['host_budget']} (half host key/values, half compact tier). Window baseline: the "
        "same device budget, all recent window. Load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in res['load_average'])} (a shared 2-core machine).",
        "",
    ]
    if "memory" in res:
        lines += memory_lines(res) + [""]
    if "real_width" in res:
        lines += real_width_lines(res["real_width"]) + [""]
    lines += [
        f"Streaming needle ({res['needle_trials']} streams, {res['needle_wall_s']:.0f} s wall): "
        '"What colour is the odd frame?" once the needle is N hours back; accuracy with Wilson '
        "95% intervals; McNemar on the paired answers.",
        "",
        "| needle back | n | tiered | window only | tiered retrieved the needle | discordant "
        "(tiered only / window only) | McNemar p |",
        "|---:|---:|---|---|---:|---|---:|",
    ]
    for r in res["needle"]:
        cell = {m: f"{100 * r[m]['acc']:.0f}% [{100 * r[m]['wilson95'][0]:.0f}, "
                   f"{100 * r[m]['wilson95'][1]:.0f}]" for m in ("tiered", "window")}  # fmt: skip
        mc = r["mcnemar"]
        lines.append(
            f"| {r['hours_back']:g} h | {r['n']} | {cell['tiered']} | {cell['window']} | "
            f"{r['needle_retrieved']} | {mc['tiered_only']} / {mc['window_only']} | {mc['p']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = res["memory"]["samples"]
    hours = [r["minute"] / 60 for r in samples]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("device_kv_bytes", "device KV"), ("host_kv_bytes", "host KV tier"),
                       ("compact_bytes", "compact tier"), ("host_bytes", "host total")):  # fmt: skip
        a.plot(hours, [r[key] / MIB for r in samples], label=label)
    a.set_xlabel("stream (hours)")
    a.set_ylabel("MiB")
    a.set_title("session memory per tier")
    a.legend()
    b.plot(hours, [r["rss_bytes"] / MIB for r in samples], color="grey")
    b.set_xlabel("stream (hours)")
    b.set_ylabel("process RSS (MiB)")
    b.set_title("process RSS")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
