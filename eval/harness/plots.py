"""Matplotlib figures for ``vlmctx report`` (headless, Agg backend).

Breakdown names carry the plot type: ``by_length`` (score vs context length; the ``Avg`` row, or
the first row), ``by_frames`` (score vs frames seen; runs that differ only in frame count form one
line), ``grid`` (V-NIAH heatmap, frames x depth), ``perf.peak_memory_gb`` (memory vs frames).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def _num(x: str) -> float:
    return float(str(x).rstrip("k"))


def _series_plot(
    lines: dict[str, dict[float, float]], title: str, xlabel: str, ylabel: str, path: Path
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = len(lines) > 10  # beyond the default colour cycle: tab20 + a second line style
    fig, ax = plt.subplots(figsize=(8, 5) if many else (6, 4))
    cmap = plt.get_cmap("tab20")
    for i, (name, pts) in enumerate(sorted(lines.items())):
        xs = sorted(pts)
        style = {"color": cmap(i % 20), "linestyle": "-" if i < 10 else "--"} if many else {}
        ax.plot(xs, [pts[x] for x in xs], marker="o", label=name, **style)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if any(len(p) > 1 and max(p) / max(min(p), 1e-9) >= 8 for p in lines.values()):
        ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    if many:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _heatmap(grid: dict[str, dict[str, float]], title: str, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = sorted(grid, key=_num)
    cols = sorted({c for r in grid.values() for c in r}, key=_num)
    data = np.array([[grid[r].get(c, np.nan) for c in cols] for r in rows])  # (frames, depths)
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(cols), 1.2 + 0.5 * len(rows)))
    im = ax.imshow(data, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="needle depth", ylabel="haystack frames", title=title)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def make_plots(runs: list[Any], out: Path) -> list[str]:
    """Write every applicable figure under ``out``; return the paths."""
    by_len: dict[str, dict[str, dict[float, float]]] = defaultdict(dict)
    by_frames: dict[str, dict[str, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    memory: dict[str, dict[float, float]] = defaultdict(dict)
    paths = []
    for i, r in enumerate(runs):
        for task, res in r.doc.get("results", {}).items():
            bd = res.get("breakdowns", {})
            if bd.get("by_length"):
                row = bd["by_length"].get("Avg") or next(iter(bd["by_length"].values()))
                pts = {_num(k): v for k, v in row.items() if v is not None}
                if pts:
                    by_len[task][r.label] = pts
            for name, row in (bd.get("by_frames") or {}).items():
                for k, v in row.items():
                    if v is not None:
                        by_frames[f"{task} {name}"][r.series][_num(k)] = v
            for k, v in (bd.get("perf", {}).get("peak_memory_gb") or {}).items():
                if res.get("breakdowns", {}).get("by_frames") is not None:
                    memory[r.series][_num(k)] = max(v, memory[r.series].get(_num(k), 0.0))
            if bd.get("grid"):
                p = out / f"plot_{task}_grid_{i}.png"
                paths.append(_heatmap(bd["grid"], f"{task}: {r.label}", p))
    for task, lines in by_len.items():
        p = out / f"plot_{task}_by_length.png"
        paths.append(_series_plot(lines, task, "context length (K tokens)", "score", p))
    for key, lines in by_frames.items():
        p = out / f"plot_{key.replace(' ', '_')}_by_frames.png"
        paths.append(_series_plot(dict(lines), key, "frames seen", "score", p))
    if memory:
        p = out / "plot_memory_by_frames.png"
        paths.append(_series_plot(dict(memory), "peak memory", "frames seen", "GiB", p))
    return paths
