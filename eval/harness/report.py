"""``vlmctx report``: compare eval runs side by side as tables (md/csv/html) and plots.

Every ``results.json`` under the given directories is one run. Runs are labelled by what differs
between them (model, then the ContextConfig fields that vary), so a sweep over position schemes or
frame counts reads as columns named after the knob that changed. Tables: every task's scores with
one column per run, then each breakdown (MMLongBench category x length, MCQ duration bucket and
frame count, V-NIAH frames x depth grid) per run. Plots: score vs context length and score vs
frame count (one line per configuration; runs that differ only in frame count join one line), a
V-NIAH heatmap per run, and peak memory vs frames where the runs measured it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmctx.errors import ConfigError

log = logging.getLogger(__name__)
FRAME_KEYS = ("sampler_params.n", "sampler_params.max_frames", "sampler_params.fps")
Table = tuple[str, list[str], list[list[Any]]]  # title, header, rows


@dataclass
class EvalRun:
    """One eval run (a `vlmctx eval` output dir): its folder, its results.json, its labels."""

    path: Path
    doc: dict[str, Any]
    label: str = ""
    series: str = ""  # label without the frame-count knobs (one plot line)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def find_runs(dirs: list[str]) -> list[EvalRun]:
    """Every results.json under ``dirs``, labelled by what differs between them.

    A file that cannot be read or is not shaped like ``vlmctx eval``'s results is reported
    (a warning naming it and why) and skipped: one bad run never aborts the report.
    """
    runs, skipped = [], []
    for d in dirs:
        p = Path(d)
        if not p.exists():
            raise ConfigError(f"{d!r} does not exist; give eval run directories")
        for f in sorted([p] if p.is_file() else p.rglob("results.json")):
            why, doc = _read_run(f)
            if why is None:
                runs.append(EvalRun(f.parent, doc))
                continue
            skipped.append(f"{f} skipped ({why})")
    if not runs and skipped:
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        raise ConfigError(f"no usable results.json: {skipped[0]}{more}")
    for line in skipped:
        log.warning("%s", line)
    if not runs:
        raise ConfigError(f"no results.json under {', '.join(dirs)}; run `vlmctx eval` first")
    _label(runs)
    return runs


def _read_run(f: Path) -> tuple[str | None, dict[str, Any]]:
    """(why the file is unusable or None, its document)."""
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"not readable JSON: {str(exc).splitlines()[0][:80]}", {}
    if not isinstance(doc, dict):
        return f"a JSON {type(doc).__name__}, not a results object", {}
    if not isinstance(doc.get("config", {}), dict):
        return "its config is not an object", doc
    results = doc.get("results", {})
    if not isinstance(results, dict):
        return "its results are not an object", doc
    for task, res in results.items():
        if not isinstance(res, dict):
            return f"task {task!r}: not an object", doc
        scores, bds = res.get("scores", {}), res.get("breakdowns", {})
        if not isinstance(scores, dict) or not all(_number(v) for v in scores.values()):
            return f"task {task!r}: scores must map names to numbers", doc
        if not isinstance(bds, dict) or not all(
            isinstance(bd, dict) and all(isinstance(row, dict) for row in bd.values())
            for bd in bds.values()
        ):
            return f"task {task!r}: breakdowns must be tables (objects of objects)", doc
        if not all(_number(res.get(k)) for k in COUNTS):
            return f"task {task!r}: sample counts must be numbers", doc
    return None, doc


COUNTS = ("n_predicted", "n_data_errors", "n_generation_errors", "n_scoring_errors")


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def _label(runs: list[EvalRun]) -> None:
    flat = [{"model": r.doc.get("model"), **flatten(r.doc.get("config", {}))} for r in runs]
    keys = sorted({k for f in flat for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    for r, f in zip(runs, flat, strict=True):
        pairs = [
            (k, f"{k.split('.')[-1]}={f.get(k)}" if k != "model" else str(f["model"]))
            for k in varying
            if f.get(k) is not None
        ]  # unset parameters are not shown
        r.label = ", ".join(p for _, p in pairs) or str(f.get("model") or r.path.name)
        series = [p for k, p in pairs if k not in FRAME_KEYS]
        r.series = ", ".join(series) or str(f.get("model") or "run")
    seen: dict[str, int] = {}
    for r in runs:  # identical labels (repeated runs) get a suffix
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label += f" #{seen[r.label]}"


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def comparison_table(runs: list[EvalRun]) -> Table:
    """One row per (task, score), one column per run."""
    rows: dict[tuple[str, str], list[Any]] = {}
    for i, r in enumerate(runs):
        for task, res in r.doc.get("results", {}).items():
            for name, value in res.get("scores", {}).items():
                rows.setdefault((task, name), [None] * len(runs))[i] = value
            rows.setdefault((task, "n scored"), [None] * len(runs))[i] = res.get("n_predicted")
            bad = sum(
                res.get(k, 0) for k in ("n_data_errors", "n_generation_errors", "n_scoring_errors")
            )
            rows.setdefault((task, "n malformed/failed"), [None] * len(runs))[i] = bad
    body = [[t, n, *vals] for (t, n), vals in rows.items()]
    return "Scores (one column per run)", ["task", "score", *[r.label for r in runs]], body


def breakdown_tables(runs: list[EvalRun]) -> list[Table]:
    tables = []
    for r in runs:
        for task, res in r.doc.get("results", {}).items():
            for name, bd in res.get("breakdowns", {}).items():
                cols = sorted({c for row in bd.values() for c in row}, key=_sort_key)
                body = [[row, *[vals.get(c) for c in cols]] for row, vals in bd.items()]
                tables.append((f"{task} / {name} / {r.label}", [name, *cols], body))
    return tables


def frames_comparison_tables(runs: list[EvalRun]) -> list[Table]:
    """For each ``by_frames`` line that several runs share: one row per run, one column per frame
    count, so configurations (e.g. position schemes) compare side by side."""
    series: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in runs:
        for task, res in r.doc.get("results", {}).items():
            for name, row in (res.get("breakdowns", {}).get("by_frames") or {}).items():
                series.setdefault((task, name), {})[r.label] = row
    tables = []
    for (task, name), by_run in series.items():
        if len(by_run) < 2:
            continue
        cols = sorted({c for row in by_run.values() for c in row}, key=_sort_key)
        body = [[label, *[row.get(c) for c in cols]] for label, row in by_run.items()]
        tables.append((f"{task} / {name} vs frames (one row per run)", ["run", *cols], body))
    return tables


def _sort_key(c: str) -> tuple[int, float, str]:
    try:
        return (0, float(c.rstrip("k")), c)
    except ValueError:
        return (1, 0.0, c)


# ---- writers -------------------------------------------------------------------------------------
def to_markdown(tables: list[Table], images: list[str]) -> str:
    out = ["# vlmctx eval report", ""]
    for title, header, rows in tables:
        out += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
        out.append("")
    out += [f"![{Path(i).stem}]({Path(i).name})" for i in images]
    return "\n".join(out) + "\n"


def to_html(tables: list[Table], images: list[str]) -> str:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>vlmctx eval report</title>",
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        "</style><h1>vlmctx eval report</h1>",
    ]
    for title, header, rows in tables:
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(str(h))}</th>" for h in header]
        parts.append("</tr>")
        for row in rows:
            cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts += [f"<p><img src='{html.escape(Path(i).name)}'></p>" for i in images]
    return "\n".join(parts) + "\n"


def to_csv(tables: list[Table]) -> str:
    """Long format: table, row, column, value (one file holds every table)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "row", "column", "value"])
    for title, header, rows in tables:
        n_keys = 2 if header[:2] == ["task", "score"] else 1
        for row in rows:
            key = " / ".join(str(x) for x in row[:n_keys])
            for col, v in zip(header[n_keys:], row[n_keys:], strict=True):
                w.writerow([title, key, col, "" if v is None else v])
    return buf.getvalue()


def write_report(
    dirs: list[str], output: str | None, formats: list[str], plots: bool = True
) -> list[str]:
    """Write the report files; return their paths."""
    bad = sorted(set(formats) - {"md", "csv", "html"})
    if bad:
        raise ConfigError(f"unknown report format(s) {bad}; use md, csv, html")
    runs = find_runs(dirs)
    out = Path(output or (dirs[0] if os.path.isdir(dirs[0]) else Path(dirs[0]).parent))
    out.mkdir(parents=True, exist_ok=True)
    tables = [comparison_table(runs), *frames_comparison_tables(runs), *breakdown_tables(runs)]
    images: list[str] = []
    if plots:
        try:
            from vlmctx_eval.harness.plots import make_plots

            images = make_plots(runs, out)
        except ImportError as exc:  # matplotlib is an optional extra: the tables still come
            log.warning(
                "no plots: %s is not installed (pip install 'vlmctx[eval]'); tables written",
                exc.name or "matplotlib",
            )
    written = list(images)
    for fmt in formats:
        path = out / f"report.{fmt}"
        text = {
            "md": lambda: to_markdown(tables, images),
            "html": lambda: to_html(tables, images),
            "csv": lambda: to_csv(tables),
        }[fmt]()
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    return written
