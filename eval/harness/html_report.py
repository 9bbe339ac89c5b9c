"""The HTML report: one self-contained page (styles and plots inline; it loads nothing).

Layout: a header with each run's model, configuration, date and command (package versions folded
below); a summary of every task's headline score with its 95% interval and n; for two or more runs
the paired comparison with the first run (McNemar on shared samples, Holm across the table); then
a section per task: the headline per run, which samples a ``--limit`` took, the figures chosen for
its data (inline SVG, :mod:`vlmctx_eval.harness.plots`), a table per strata dimension (value,
interval, n per run) and the failed/malformed counts, each linking to its examples further down.

Every score on the page is a ``<span class="score" data-n=.. data-low=.. data-high=..>`` followed
by its interval and n, which is what the page's tests check. The numbers are the ones the
Markdown and CSV reports carry (:func:`vlmctx_eval.harness.report.report_tables`).
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from typing import Any

from vlmctx_eval.harness.report import EvalRun, Table, paired_table, problems, run_header
from vlmctx_eval.harness.strata import describe_plan

CSS = """
:root{--fg:#1d232b;--muted:#5b6573;--line:#d9dee5;--bg:#fff;--band:#f4f6f9;--acc:#1f5fae}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:var(--fg);background:var(--bg)}main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
header.top{background:#17212e;color:#eef2f7;padding:22px 24px 14px}header.top h1{margin:0 0 4px;
font-size:22px;font-weight:600}header.top .sub{color:#b9c3cf;margin:0 0 12px}
header.top table{color:#eef2f7;border-color:#33414f}header.top th{color:#b9c3cf;background:none}
header.top td,header.top th{border-color:#33414f}header.top code{background:#263445;color:#eef2f7}header.top details{margin-top:8px;color:#b9c3cf}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:8px 24px;
z-index:2;font-size:13px}nav a{margin-right:14px;color:var(--acc);text-decoration:none}
h2{font-size:19px;margin:28px 0 8px;padding-top:6px;border-top:2px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--band);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.score{font-weight:600}.ci{color:var(--muted);margin-left:4px}.n{color:var(--muted);margin-left:4px;
font-size:12px}.headline{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}.card{border:1px solid
var(--line);border-radius:6px;padding:8px 12px;min-width:220px}.card .score{font-size:22px}
.card .lab{color:var(--muted);font-size:12px}.note{color:var(--muted);font-size:12px;margin:4px 0}
.figs{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;border:1px solid var(--line);
border-radius:6px;padding:6px;background:#fff}figure svg{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:12px;max-width:620px;padding:2px 4px}
code{font-size:12px;background:var(--band);padding:1px 4px;border-radius:3px;overflow-wrap:break-word}
.sig{color:#9b1c1c;font-weight:600}details summary{cursor:pointer}
ul.ex{margin:4px 0 10px;padding-left:18px;font-size:13px}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def score(c: dict[str, Any] | None, digits: int = 1) -> str:
    """A score with its 95% interval and n (a dash when nothing was scored)."""
    c = c or {}
    n = c.get("n") or 0
    v = c.get("value")
    if v is None:
        return f"<span class='score' data-n='{n}' data-low='' data-high=''>-</span>" + (
            f"<span class='n'>n={n}</span>"
        )
    lo, hi = c.get("low"), c.get("high")
    ci = "[no interval]" if lo is None else f"[{lo:.{digits}f}, {hi:.{digits}f}]"
    return (
        f"<span class='score' data-n='{n}' data-low='{'' if lo is None else f'{lo:.4f}'}' "
        f"data-high='{'' if hi is None else f'{hi:.4f}'}'>{v:.{digits}f}</span>"
        f"<span class='ci'>{ci}</span><span class='n'>n={n}</span>"
    )


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><tr>{head}</tr>{body}</table>"


def _header(runs: list[EvalRun]) -> str:
    hs = [run_header(r) for r in runs]
    models = sorted({h["model"] for h in hs})
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        [
            _e(h["run"]),
            f"<code>{_e(h['model'])}</code>",
            _e(h["configuration"]),
            _e(h["date"]),
            f"<code>{_e(h['command'])}</code>",
        ]
        for h in hs
    ]
    versions = _table(["run", "versions"], [[_e(h["run"]), _e(h["versions"])] for h in hs])
    return (
        f"<header class='top'><h1>vlmctx eval report: {_e(', '.join(models))}</h1>"
        f"<p class='sub'>{len(runs)} run(s); report made {now}. Scores are in % with 95% "
        "intervals and the number of scored samples n.</p>"
        + _table(["run", "model", "configuration", "date", "command"], rows)
        + f"<details><summary>Package versions</summary>{versions}</details></header>"
    )


def _summary(runs: list[EvalRun], tasks: list[str]) -> str:
    rows = []
    for task in tasks:
        for r in runs:
            h = (r.doc.get("results", {}).get(task) or {}).get("intervals")
            if h is None:
                continue
            rows.append(
                [
                    f"<a href='#task-{_slug(task)}'>{_e(task)}</a>",
                    _e(h.get("metric")),
                    _e(r.label),
                    score(h),
                    _e(h.get("method")),
                ]
            )
    return (
        "<section id='summary'><h2>Summary</h2>"
        + _table(["task", "metric", "run", "value [95% interval] n", "interval"], rows)
        + "</section>"
    )


def _paired(runs: list[EvalRun]) -> str:
    t = paired_table(runs)
    if t is None:
        return ""
    _, _, body = t
    if not body:
        return (
            "<section id='compare'><h2>Paired comparison</h2><p class='note'>No task with "
            "right/wrong scores on shared samples.</p></section>"
        )
    rows = []
    for b in body:
        ca = {"value": b[4], "low": b[5], "high": b[6], "n": b[3]}
        cb = {"value": b[7], "low": b[8], "high": b[9], "n": b[3]}
        sig = "sig" if b[14] < 0.05 else ""
        rows.append(
            [
                _e(b[0]),
                _e(b[1]),
                _e(b[2]),
                score(ca),
                score(cb),
                f"{b[10]:+.1f}",
                f"{b[11]} / {b[12]}",
                f"{b[13]:.3g}",
                f"<span class='{sig}'>{b[14]:.3g}</span>",
                _e(b[15]),
            ]
        )
    note = (
        "<p class='note'>Each run against the first, on the samples both scored. McNemar's "
        "test on the discordant pairs (exact binomial below 25 of them); Holm's adjustment "
        "across every row of this table; red: Holm p &lt; 0.05.</p>"
    )
    header = [
        "task",
        "A",
        "B",
        "A [95%] n",
        "B [95%] n",
        "B - A (points)",
        "only A / only B right",
        "McNemar p",
        "Holm p",
        "test",
    ]
    return f"<section id='compare'><h2>Paired comparison</h2>{_table(header, rows)}{note}</section>"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-") or "x"


def _task_section(task: str, runs: list[EvalRun], figures: list[Any]) -> str:
    mine = [r for r in runs if task in r.doc.get("results", {})]
    cards = []
    for r in mine:
        h = r.doc["results"][task].get("intervals") or {}
        cards.append(
            f"<div class='card'><div class='lab'>{_e(r.label)}: {_e(h.get('metric'))}"
            f"</div>{score(h)}<div class='lab'>{_e(h.get('method'))}</div></div>"
        )
    parts = [
        f"<section id='task-{_slug(task)}'><h2>{_e(task)}</h2>",
        f"<div class='headline'>{''.join(cards)}</div>",
    ]
    for r in mine:
        plan = r.doc["results"][task].get("selection")
        if plan:
            who = f" ({_e(r.label)})" if len(runs) > 1 else ""
            parts.append(f"<p class='note'>Samples{who}: {_e(describe_plan(task, plan))}</p>")
    figs = [f for f in figures if f.task == task]
    if figs:
        parts.append(
            "<div class='figs'>"
            + "".join(
                f"<figure data-plot='{_e(f.name)}'>{f.svg()}<figcaption>{_e(f.caption)}</figcaption>"
                "</figure>"
                for f in figs
            )
            + "</div>"
        )
    parts.append(_strata_html(task, mine))
    parts.append(_problems_html(task, mine))
    return "".join(parts) + "</section>"


def _strata_html(task: str, runs: list[EvalRun]) -> str:
    dims: list[str] = []
    for r in runs:
        dims += [
            d for d in (r.doc["results"][task].get("strata") or {}).get("dims", []) if d not in dims
        ]
    out = []
    for dim in dims:
        levels: list[str] = []
        for r in runs:
            by = ((r.doc["results"][task].get("strata") or {}).get("by") or {}).get(dim) or {}
            levels += [lv for lv in by if lv not in levels]
        rows = []
        for lv in levels:
            cells = []
            for r in runs:
                by = (r.doc["results"][task].get("strata") or {}).get("by", {}).get(dim, {})
                cells.append(score(by.get(lv)) if lv in by else "")
            rows.append([_e(lv), *cells])
        metric = (runs[0].doc["results"][task].get("strata") or {}).get("metric", "")
        out.append(
            f"<h3>By {_e(dim)}</h3>"
            + _table([dim, *[r.label for r in runs]], rows)
            + f"<p class='note'>per-sample {_e(metric)}, mean in % with 95% interval "
            "(Wilson for right/wrong, bootstrap otherwise) and n</p>"
        )
    return "".join(out)


def _problems_html(task: str, runs: list[EvalRun]) -> str:
    rows, lists = [], []
    for i, r in enumerate(runs):
        pr = problems(r, task)
        cells = []
        for kind, info in pr.items():
            anchor = f"ex-{_slug(task)}-{i}-{_slug(kind)}"
            if info["examples"]:
                cells.append(f"<a href='#{anchor}'>{info['n']}</a>")
                items = "".join(
                    f"<li><code>{_e(e.get('sample_id', e.get('source')))}</code>: "
                    f"{_e(e.get('error'))}</li>"
                    for e in info["examples"]
                )
                lists.append(
                    f"<details id='{anchor}' open><summary>{_e(task)} / {_e(r.label)}: "
                    f"{_e(kind)} ({info['n']}; first {len(info['examples'])})</summary>"
                    f"<ul class='ex'>{items}</ul></details>"
                )
            else:
                cells.append(str(info["n"]))
        n = r.doc["results"][task].get("n_predicted")
        rows.append([_e(r.label), str(n), *cells])
    kinds = list(problems(runs[0], task)) if runs else []
    where = f"<p class='note'>All samples: <code>samples_{_e(task)}.jsonl</code> in each run folder.</p>"
    return (
        "<h3>Failed and malformed</h3>"
        + _table(["run", "n scored", *kinds], rows)
        + "".join(lists)
        + where
    )


def to_html(runs: list[EvalRun], tables: list[Table], figures: list[Any]) -> str:
    """The whole page (``tables`` are the Markdown/CSV tables; the page shows the same numbers)."""
    del tables  # the page is built from the same run documents, laid out per task
    tasks: list[str] = []
    for r in runs:
        tasks += [t for t in r.doc.get("results", {}) if t not in tasks]
    nav = "".join(f"<a href='#task-{_slug(t)}'>{_e(t)}</a>" for t in tasks)
    extra = "<a href='#compare'>comparison</a>" if len(runs) > 1 else ""
    body = [
        _header(runs),
        f"<nav><a href='#summary'>summary</a>{extra}{nav}</nav><main>",
        _summary(runs, tasks),
        _paired(runs),
        *[_task_section(t, runs, figures) for t in tasks],
        "</main>",
    ]
    title = "vlmctx eval report: " + ", ".join(sorted({str(r.doc.get("model")) for r in runs}))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
