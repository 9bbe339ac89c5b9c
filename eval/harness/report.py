"""``vlmctx report``: eval runs side by side as tables (md/csv/html) and plots, with how far to
trust each number.

Every ``results.json`` under the given directories is one run (oldest first: the first is the
baseline of the paired comparison). Runs are labelled by what differs between them (model, then
the ContextConfig fields that vary), so a sweep reads as columns named after the knob that changed.
Tables, in this order in Markdown and CSV: headline scores with 95% intervals and n (computed by the
run, eval/harness/intervals.py); for two or more runs the paired comparison with the first
(McNemar on shared samples, Holm across the table); per-stratum tables; failed/malformed counts;
then every flat score and breakdown as the tasks reported them. The HTML page
(eval/harness/html_report.py) shows the same numbers per task with the plots inline
(eval/harness/plots.py).
"""

from __future__ import annotations

import csv
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
    """Every results.json under ``dirs``, oldest first, labelled by what differs between them.

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
    runs.sort(key=lambda r: (str(r.doc.get("created") or ""), str(r.path)))  # first: baseline
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


# ---- trust: intervals, n, paired tests, problems --------------------------------------------------
def _ci(c: dict[str, Any] | None) -> str:
    """``45.0 [25.8, 65.8] n=20`` (empty when not scored)."""
    if not c or c.get("value") is None:
        return f"- n={c.get('n', 0) if c else 0}"
    if c.get("low") is None:
        return f"{c['value']:.1f} [no interval] n={c.get('n')}"
    return f"{c['value']:.1f} [{c['low']:.1f}, {c['high']:.1f}] n={c.get('n')}"


def summary_table(doc: dict[str, Any]) -> str:
    """The terminal table closing ``vlmctx eval``: task, metric, value, 95% interval, n."""
    rows = [("task", "metric", "value", "95% interval", "n")]
    for task, res in doc.get("results", {}).items():
        h = res.get("intervals") or {}
        v = h.get("value")
        ci = "" if h.get("low") is None else f"[{h['low']:.2f}, {h['high']:.2f}]"
        rows.append(
            (
                task,
                str(h.get("metric", res.get("primary", ""))),
                "-" if v is None else f"{v:.2f}",
                ci or "-",
                str(h.get("n", 0)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def headline_table(runs: list[EvalRun]) -> Table:
    """Each task's primary score per run with its 95% interval, n and method."""
    header = ["task", "metric", "run", "value", "95% low", "95% high", "n", "interval"]
    body = []
    for r in runs:
        for task, res in r.doc.get("results", {}).items():
            h = res.get("intervals") or {}
            body.append(
                [
                    task,
                    h.get("metric", res.get("primary")),
                    r.label,
                    h.get("value"),
                    h.get("low"),
                    h.get("high"),
                    h.get("n"),
                    h.get("method"),
                ]
            )
    return "Headline scores with 95% intervals", header, body


def strata_tables(runs: list[EvalRun]) -> list[Table]:
    """Per task and dimension: each level's score, 95% interval and n, one block per run."""
    tables = []
    for task in _tasks(runs):
        for dim in _dims(runs, task):
            body = []
            for r in runs:
                st = r.doc.get("results", {}).get(task, {}).get("strata") or {}
                for lv, c in (st.get("by", {}).get(dim) or {}).items():
                    body.append(
                        [lv, r.label, c.get("value"), c.get("low"), c.get("high"), c.get("n")]
                    )
            if body:
                title = f"{task}: by {dim}"
                tables.append((title, [dim, "run", "value", "95% low", "95% high", "n"], body))
    return tables


def _tasks(runs: list[EvalRun]) -> list[str]:
    out: list[str] = []
    for r in runs:
        out += [t for t in r.doc.get("results", {}) if t not in out]
    return out


def _dims(runs: list[EvalRun], task: str) -> list[str]:
    out: list[str] = []
    for r in runs:
        st = r.doc.get("results", {}).get(task, {}).get("strata") or {}
        out += [d for d in st.get("dims", []) if d not in out]
    return out


def paired_rows(runs: list[EvalRun]) -> list[dict[str, Any]]:
    """Every run against the first, per shared task with right/wrong scores: the paired
    comparison on shared sample ids (McNemar) with Holm-adjusted p-values across the table."""
    from vlmctx_eval.harness.compare import correctness
    from vlmctx_eval.harness.stats import holm, paired_compare

    rows: list[dict[str, Any]] = []
    base = runs[0]
    for other in runs[1:]:
        for task in _tasks([base]):
            if task not in other.doc.get("results", {}):
                continue
            ca, cb = correctness(base.path, task), correctness(other.path, task)
            if not ca or not cb:
                continue
            res = paired_compare(ca, cb)
            if res["n_shared"]:
                rows.append({"task": task, "a": base.label, "b": other.label, **res})
    for row, p in zip(rows, holm([r["mcnemar"]["p_value"] for r in rows]), strict=True):
        row["p_holm"] = p
    return rows


def paired_table(runs: list[EvalRun]) -> Table | None:
    if len(runs) < 2:
        return None
    header = [
        "task",
        "A",
        "B",
        "n shared",
        "A %",
        "A 95% low",
        "A 95% high",
        "B %",
        "B 95% low",
        "B 95% high",
        "B - A (points)",
        "only A right",
        "only B right",
        "McNemar p",
        "Holm p",
        "test",
    ]
    body = []
    for r in paired_rows(runs):
        m = r["mcnemar"]
        body.append(
            [
                r["task"],
                r["a"],
                r["b"],
                r["n_shared"],
                100 * r["acc_a"],
                100 * r["ci_a"][0],
                100 * r["ci_a"][1],
                100 * r["acc_b"],
                100 * r["ci_b"][0],
                100 * r["ci_b"][1],
                100 * r["diff"],
                r["a_right_b_wrong"],
                r["b_right_a_wrong"],
                m["p_value"],
                r["p_holm"],
                m["method"],
            ]
        )
    title = "Paired comparison with the first run (shared samples; Holm across the table)"
    return title, header, body


def problems(run: EvalRun, task: str, max_examples: int = 5) -> dict[str, Any]:
    """Failed / malformed counts of one task in one run, with up to ``max_examples`` each."""
    res = run.doc.get("results", {}).get(task, {})
    unparsed = []
    records, _ = _samples(run.path, task)
    for rec in records:
        if (rec.get("scores") or {}).get("unparsed") and not rec.get("error"):
            unparsed.append(
                {
                    "sample_id": rec.get("sample_id"),
                    "error": f"reply not parsed: {str(rec.get('prediction'))[:160]!r}",
                }
            )
    kinds = {
        "failed generations": res.get("generation_errors") or [],
        "scoring errors": res.get("scoring_errors") or [],
        "malformed data records": res.get("data_errors") or [],
        "unparsed replies": unparsed,
    }
    return {
        k: {
            "n": len(v) if k == "unparsed replies" else res.get(_COUNT[k], len(v)),
            "examples": v[:max_examples],
        }
        for k, v in kinds.items()
    }


_COUNT = {
    "failed generations": "n_generation_errors",
    "scoring errors": "n_scoring_errors",
    "malformed data records": "n_data_errors",
}


def _samples(path: Path, task: str) -> tuple[list[dict[str, Any]], list[str]]:
    from vlmctx_eval.harness.records import read_jsonl

    return read_jsonl(path / f"samples_{task}.jsonl")


def problems_table(runs: list[EvalRun]) -> Table:
    kinds = list(_COUNT) + ["unparsed replies"]
    body = []
    for r in runs:
        for task in r.doc.get("results", {}):
            pr = problems(r, task)
            body.append(
                [
                    task,
                    r.label,
                    r.doc["results"][task].get("n_predicted"),
                    *[pr[k]["n"] for k in kinds],
                ]
            )
    return "Failed and malformed samples", ["task", "run", "n scored", *kinds], body


def selection_lines(runs: list[EvalRun]) -> list[str]:
    from vlmctx_eval.harness.strata import describe_plan

    out = []
    for r in runs:
        for task, res in r.doc.get("results", {}).items():
            if res.get("selection"):
                out.append(f"{r.label}: {describe_plan(task, res['selection'])}")
    return out


# ---- writers -------------------------------------------------------------------------------------
def run_header(r: EvalRun) -> dict[str, str]:
    """What the page and the Markdown say about one run: model, configuration, versions..."""
    cfg = r.doc.get("config") or {}
    parts = [f"{k}={json.dumps(v, default=str)}" for k, v in cfg.items() if v not in (None, {}, [])]
    versions = r.doc.get("versions") or {}
    return {
        "run": r.label,
        "model": str(r.doc.get("model")),
        "configuration": ", ".join(parts) or "defaults",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "command": " ".join(str(c) for c in r.doc.get("command") or []),
        "date": str(r.doc.get("created", "")),
        "path": str(r.path),
    }


def _n_keys(header: list[str]) -> int:
    if header[:2] == ["task", "score"]:
        return 2
    for name in ("value", "n shared", "n scored"):
        if name in header:
            return header.index(name)
    return 1


def to_markdown(runs: list[EvalRun], tables: list[Table], images: list[str]) -> str:
    out = ["# vlmctx eval report", "", "## Runs", ""]
    for r in runs:
        h = run_header(r)
        out += [
            f"- **{h['run']}**: model `{h['model']}`; {h['configuration']}",
            f"  - date {h['date']}; command `{h['command']}`",
            f"  - versions: {h['versions']}",
        ]
    sel = selection_lines(runs)
    if sel:
        out += ["", "## Samples taken", "", *[f"- {s}" for s in sel]]
    out.append("")
    for title, header, rows in tables:
        out += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
        out.append("")
    for r in runs:
        for task in r.doc.get("results", {}):
            for kind, info in problems(r, task).items():
                if info["examples"]:
                    out.append(f"### {task} / {r.label}: {kind} ({info['n']})")
                    out += [
                        f"- `{e.get('sample_id', e.get('source'))}`: {e.get('error')}"
                        for e in info["examples"]
                    ]
                    out.append("")
    out += [f"![{Path(i).stem}]({Path(i).name})" for i in images]
    return "\n".join(out) + "\n"


def to_csv(tables: list[Table]) -> str:
    """Long format: table, row, column, value (one file holds every table)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "row", "column", "value"])
    for title, header, rows in tables:
        n_keys = _n_keys(header)
        for row in rows:
            key = " / ".join(str(x) for x in row[:n_keys])
            for col, v in zip(header[n_keys:], row[n_keys:], strict=True):
                w.writerow([title, key, col, "" if v is None else v])
    return buf.getvalue()


def report_tables(runs: list[EvalRun]) -> list[Table]:
    """Every table, in the order Markdown and CSV write them (the HTML shows the same numbers)."""
    paired = paired_table(runs)
    return [
        headline_table(runs),
        *([paired] if paired else []),
        *strata_tables(runs),
        problems_table(runs),
        comparison_table(runs),
        *frames_comparison_tables(runs),
        *breakdown_tables(runs),
    ]


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
    tables = report_tables(runs)
    figures: list[Any] = []
    if plots:
        try:
            from vlmctx_eval.harness.plots import make_figures

            figures = make_figures(runs)
        except ImportError as exc:  # matplotlib is an optional extra: the tables still come
            log.warning(
                "no plots: %s is not installed (pip install 'vlmctx[eval]'); tables written",
                exc.name or "matplotlib",
            )
    images = [f.png(out) for f in figures] if "md" in formats else []
    written = list(images)
    for fmt in formats:
        path = out / f"report.{fmt}"
        if fmt == "html":
            from vlmctx_eval.harness.html_report import to_html

            text = to_html(runs, tables, figures)
        else:
            text = to_markdown(runs, tables, images) if fmt == "md" else to_csv(tables)
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    for f in figures:
        f.close()
    return written
