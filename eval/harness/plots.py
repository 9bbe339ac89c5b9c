"""Figures for ``vlmctx report``, chosen for the data (matplotlib, headless Agg backend).

Each figure is drawn from the per-stratum tables in ``results.json`` (``strata``: value, 95%
interval and n per level; eval/harness/intervals.py), so every point carries its interval:

* a numeric dimension (``frames``, ``frames_seen``, MMLongBench ``length``) with several levels:
  lines with 95% interval bands, one per run (for ``frames_seen``, runs that differ only in the
  frame-count knob join one line), x ticks at the levels themselves (log 2 scale from a ratio of 8), the chance level
  dashed where the task defines one;
* the same dimension with a single level (one frame count): bars with 95% error bars, one per run
  (a line through one point says nothing);
* two dimensions crossed (V-NIAH frames x depth, toylab kind x frames): a heatmap per run with the
  value and n in each cell and the chance level stated in the title;
* a categorical dimension (kind, duration bucket, category, dataset): grouped bars with error bars;
* peak memory vs frames where the runs measured it.

:func:`make_figures` returns :class:`Figure` objects; :meth:`Figure.png` writes the file the
Markdown report links, :meth:`Figure.svg` the inline SVG the HTML report embeds (text kept as
text, no XML prolog or metadata: the page loads nothing from anywhere).
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NUMERIC = ("frames", "frames_seen", "length")
MAX_BARS = 40  # a dimension with more levels gets its table only


@dataclass
class Figure:
    """One plot: its file stem, the task it belongs to, a caption and the matplotlib figure."""

    name: str
    task: str
    caption: str
    fig: Any

    def png(self, out: Path) -> str:
        path = out / f"{self.name}.png"
        self.fig.savefig(path, dpi=110)
        return str(path)

    def svg(self) -> str:
        import matplotlib

        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": self.name}):
            self.fig.savefig(buf, format="svg", metadata={"Date": None})
        text = buf.getvalue()
        text = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", "", text)
        text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
        return text.strip()

    def close(self) -> None:
        import matplotlib.pyplot as plt

        plt.close(self.fig)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(x: str) -> float:
    return float(str(x).rstrip("k"))


def _is_num(x: str) -> bool:
    try:
        _num(x)
        return True
    except ValueError:
        return False


def _fmt_level(x: float) -> str:
    return f"{x:g}"


def _lines(
    task: str, dim: str, series: dict[str, dict[float, dict]], chance: float | None, name: str
) -> Figure:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    xs_all = sorted({x for pts in series.values() for x in pts})
    for label, pts in sorted(series.items()):
        xs = sorted(pts)
        ys = [pts[x]["value"] for x in xs]
        (line,) = ax.plot(xs, ys, marker="o", label=f"{label}")
        lo = [pts[x]["low"] for x in xs]
        hi = [pts[x]["high"] for x in xs]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=1, label=f"chance {chance:.2g}%")
    if xs_all and max(xs_all) / max(min(xs_all), 1e-9) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs_all, [_fmt_level(x) for x in xs_all])
    ax.minorticks_off()
    ax.set(xlabel=dim.replace("_", " "), ylabel="score (%), 95% band", title=f"{task} by {dim}")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    cap = f"{task}: score vs {dim} with 95% interval bands, one line per configuration"
    return Figure(name, task, cap, fig)


def _bars(
    task: str, dim: str, groups: dict[str, dict[str, dict]], chance: float | None, name: str
) -> Figure:
    """``groups``: level -> run label -> cell; grouped bars with 95% error bars."""
    plt = _plt()
    levels = list(groups)
    labels = sorted({lb for g in groups.values() for lb in g})
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * len(levels) * max(len(labels), 1) + 2), 4))
    for j, lb in enumerate(labels):
        xs, ys, err = [], [], [[], []]
        for i, lv in enumerate(levels):
            c = groups[lv].get(lb)
            if c and c["value"] is not None:
                xs.append(i + (j - (len(labels) - 1) / 2) * width)
                ys.append(c["value"])
                err[0].append(c["value"] - c["low"])
                err[1].append(c["high"] - c["value"])
        ax.bar(xs, ys, width=width * 0.95, yerr=err, capsize=3, label=lb)
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=1, label=f"chance {chance:.2g}%")
    ax.set_xticks(
        range(len(levels)),
        levels,
        rotation=30 if len(levels) > 6 else 0,
        ha="right" if len(levels) > 6 else "center",
    )
    ax.set(xlabel=dim.replace("_", " "), ylabel="score (%), 95% interval", title=f"{task} by {dim}")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    cap = f"{task}: score per {dim} with 95% error bars, one bar per configuration"
    return Figure(name, task, cap, fig)


def _heatmap(task: str, st: dict[str, Any], label: str, name: str) -> Figure:
    plt = _plt()
    import numpy as np

    d0, d1 = st["cell_dims"]
    keys = [k.split(" / ") for k in st["cells"]]
    rows = sorted(
        {k[0] for k in keys}, key=lambda v: (not _is_num(v), _num(v) if _is_num(v) else 0, v)
    )
    cols = sorted(
        {k[1] for k in keys}, key=lambda v: (not _is_num(v), _num(v) if _is_num(v) else 0, v)
    )
    data = np.full((len(rows), len(cols)), np.nan)
    ns = np.zeros((len(rows), len(cols)), int)
    for key, c in st["cells"].items():
        r, col = key.split(" / ")
        if c["value"] is not None:
            data[rows.index(r), cols.index(col)] = c["value"]
        ns[rows.index(r), cols.index(col)] = c["n"]
    pad = 0.08 * max(len(r) for r in rows)  # room for long row labels (dataset names)
    fig, ax = plt.subplots(figsize=(1.6 + pad + 0.9 * len(cols), 1.4 + 0.55 * len(rows)))
    im = ax.imshow(data, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    chance = st.get("chance")
    stated = f"chance {chance:.2g}%" if chance is not None else "chance level not defined"
    ax.set(xlabel=d1, ylabel=d0, title=f"{task}{label}\n({stated}; n per cell)")
    for i in range(len(rows)):
        for j in range(len(cols)):
            txt = "-" if np.isnan(data[i, j]) else f"{data[i, j]:.0f}"
            ax.text(j, i, f"{txt}\nn={ns[i, j]}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="score (%)")
    fig.tight_layout()
    cap = f"{task}{label}: {d0} x {d1}, value and n per cell; {stated}"
    return Figure(name, task, cap, fig)


def _memory(memory: dict[str, dict[float, float]]) -> Figure:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    xs_all = sorted({x for p in memory.values() for x in p})
    for label, pts in sorted(memory.items()):
        xs = sorted(pts)
        ax.plot(xs, [pts[x] for x in xs], marker="o", label=label)
    ax.set_xticks(xs_all, [_fmt_level(x) for x in xs_all])
    ax.set(xlabel="frames", ylabel="GiB", title="peak memory")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return Figure("plot_memory_by_frames", "", "peak memory vs frames (means per frame count)", fig)


def _task_figures(task: str, runs: list[Any]) -> list[Figure]:
    per_run = [(r, r.doc["results"][task]["strata"]) for r in runs if _strata(r, task)]
    if not per_run:
        return []
    figs: list[Figure] = []
    dims: list[str] = []
    for _, st in per_run:
        dims += [d for d in st["dims"] if d not in dims]
    chance = next((st.get("chance") for _, st in per_run if st.get("chance") is not None), None)
    for dim in dims:
        levels = {lv for _, st in per_run for lv in st["by"].get(dim, {})}
        if dim in NUMERIC and all(_is_num(lv) for lv in levels) and len(levels) > 1:
            series: dict[str, dict[float, dict]] = defaultdict(dict)
            for r, st in per_run:
                # frames the model got: runs differing only in that knob join one line; a
                # dimension of the data (video frames, length): one line per run
                line = r.series if dim == "frames_seen" else r.label
                for lv, c in st["by"].get(dim, {}).items():
                    if c["value"] is not None:
                        series[line][_num(lv)] = c
            figs.append(_lines(task, dim, dict(series), chance, f"plot_{task}_by_{dim}"))
        elif 1 <= len(levels) <= MAX_BARS and (len(levels) > 1 or dim in NUMERIC):
            order = sorted(levels, key=lambda v: (not _is_num(v), _num(v) if _is_num(v) else 0, v))
            groups = {
                (f"{dim} {lv}" if len(levels) == 1 else lv): {
                    r.label: st["by"][dim][lv] for r, st in per_run if lv in st["by"].get(dim, {})
                }
                for lv in order
            }
            figs.append(_bars(task, dim, groups, chance, f"plot_{task}_by_{dim}"))
    for i, (r, st) in enumerate(per_run):
        if st.get("cell_dims") and _grid_shape(st) >= (2, 2):
            label = f": {r.label}" if len(per_run) > 1 else ""
            figs.append(_heatmap(task, st, label, f"plot_{task}_grid_{i}"))
    return figs


def _strata(run: Any, task: str) -> bool:
    st = run.doc.get("results", {}).get(task, {}).get("strata")
    return isinstance(st, dict) and bool(st.get("by"))


def _grid_shape(st: dict[str, Any]) -> tuple[int, int]:
    keys = [k.split(" / ") for k in st.get("cells", {})]
    return len({k[0] for k in keys}), len({k[-1] for k in keys})


def make_figures(runs: list[Any]) -> list[Figure]:
    """Every applicable figure for ``runs`` (tasks in first-seen order), memory last."""
    tasks: list[str] = []
    for r in runs:
        tasks += [t for t in r.doc.get("results", {}) if t not in tasks]
    figs = [f for t in tasks for f in _task_figures(t, runs)]
    memory: dict[str, dict[float, float]] = defaultdict(dict)
    for r in runs:
        for res in r.doc.get("results", {}).values():
            for k, v in (
                res.get("breakdowns", {}).get("perf", {}).get("peak_memory_gb") or {}
            ).items():
                if _is_num(k) and v:
                    memory[r.series][_num(k)] = max(v, memory[r.series].get(_num(k), 0.0))
    if memory and any(len(p) > 1 for p in memory.values()):
        figs.append(_memory(dict(memory)))
    return figs


def make_plots(runs: list[Any], out: Path) -> list[str]:
    """Write every figure as PNG under ``out``; return the paths (the Markdown report's)."""
    paths = []
    for f in make_figures(runs):
        paths.append(f.png(out))
        f.close()
    return paths
