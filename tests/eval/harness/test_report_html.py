"""The HTML report is one self-contained page whose every score carries its interval and n
(issue 31), parsed here without a browser; Markdown and CSV carry the same numbers; two runs get
a paired comparison (McNemar, Holm across the table). The browser test is test_report_browser.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.eval.conftest import cli
from tests.eval.harness.report_fixture import PER_CELL, make_two_runs
from vlmctx_eval.harness.stats import holm, mcnemar, wilson_interval


class Page(HTMLParser):
    """What the tests check: figures (and their svg), scores, links, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.scores: list[dict] = []
        self.refs: list[str] = []  # every src/href value
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self._in_score: dict | None = None
        self.after: list[list[str]] = []  # class names of the spans following each score

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if a.get(key):
                self.refs.append(a[key])
        if tag == "figure":
            self.figures.append({"name": a.get("data-plot"), "svg": 0})
        if tag == "svg" and self.figures:
            self.figures[-1]["svg"] += 1
        if tag == "span" and a.get("class") == "score":
            self._in_score = {**a, "text": ""}
            self.scores.append(self._in_score)
            self.after.append([])
        elif tag == "span" and self.after and len(self.after[-1]) < 2:
            self.after[-1].append(a.get("class", ""))

    def handle_data(self, data: str) -> None:
        if self._in_score is not None:
            self._in_score["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._in_score = None


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[Path], Path]:
    tmp = tmp_path_factory.mktemp("report")
    out, runs = make_two_runs(tmp)
    dest = tmp / "report"
    assert cli(["report", str(out), "--format", "md,csv,html", "--output", str(dest)]) == 0
    return dest, runs, out


def _page(dest: Path) -> tuple[str, Page]:
    text = (dest / "report.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return text, page


def test_one_file_every_plot_embedded_nothing_external(report) -> None:
    dest, _, _ = report
    text, page = _page(dest)
    pngs = sorted(p.stem for p in dest.glob("plot_*.png"))  # the Markdown report's plots
    assert pngs and sorted(f["name"] for f in page.figures) == pngs
    assert all(f["svg"] == 1 for f in page.figures)  # every plot inline
    # lines with bands for several frame counts, bars for kinds/depths, heatmaps per run
    assert {
        "plot_toylab_by_frames",
        "plot_toylab_by_kind",
        "plot_vniah_by_depth",
        "plot_vniah_grid_0",
        "plot_vniah_grid_1",
    } <= set(pngs)
    assert "chance 0.01%" in text  # the V-NIAH heatmap states the chance level
    assert all(r.startswith("#") for r in page.refs), page.refs  # in-page links only
    assert not re.search(r"url\((?!#)|@import|<link|<script|<img", text)  # svg: url(#clip)
    assert "<style>" in text and text.count("<html") == 1


def test_every_score_has_its_interval_and_n(report) -> None:
    dest, runs, _ = report
    _, page = _page(dest)
    assert len(page.scores) > 20
    for sc, after in zip(page.scores, page.after, strict=True):
        assert after == ["ci", "n"] or (sc["text"] == "-" and after[:1] == ["n"]), sc
        if sc["text"] != "-":
            low, high, value = float(sc["data-low"]), float(sc["data-high"]), float(sc["text"])
            assert low - 0.05 <= value <= high + 0.05 and int(sc["data-n"]) > 0
    # run A's toylab: right except the 16-frame questions -> Wilson on 12 of 18
    n, wrong = 6 * PER_CELL, 2 * PER_CELL
    doc = json.loads((runs[0] / "results.json").read_text())
    h = doc["results"]["toylab"]["intervals"]
    lo, hi = wilson_interval(n - wrong, n)
    assert h["n"] == n and h["value"] == pytest.approx(100 * (n - wrong) / n)
    assert (h["low"], h["high"]) == pytest.approx((100 * lo, 100 * hi)) and h[
        "method"
    ] == "Wilson 95%"
    by_frames = doc["results"]["toylab"]["strata"]["by"]["frames"]
    assert by_frames["16"]["value"] == 0 and by_frames["16"]["n"] == wrong


def _right(run: Path) -> dict[str, bool]:
    lines = (run / "samples_toylab.jsonl").read_text().splitlines()
    return {r["sample_id"]: bool(r["scores"]["exact_match"]) for r in map(json.loads, lines)}


def test_header_comparison_and_failed_counts(report) -> None:
    dest, runs, _ = report
    text, page = _page(dest)
    for word in ("model", "configuration", "date", "command", "Package versions", "torch"):
        assert word in text
    for run in runs:  # each run's date and configuration on the page
        doc = json.loads((run / "results.json").read_text())
        assert doc["created"] in text and "sampler_params" in text
    assert "Holm p" in text and "McNemar p" in text
    # the paired row of toylab: discordant counts from the two samples files, Holm over 2 rows
    md = (dest / "report.md").read_text()
    row = next(ln for ln in md.splitlines() if re.match(r"\| toylab \| n=\d+ \| n=\d+ \|", ln))
    cells = [c.strip() for c in row.strip("|").split("|")]
    label = {"n=8": runs[0], "n=16": runs[1]}  # run A was made with --frames 8
    first, second = (_right(label[cells[1]]), _right(label[cells[2]]))
    only_first = sum(first[k] and not second[k] for k in first)
    only_second = sum(second[k] and not first[k] for k in first)
    assert cells[11:13] == [str(only_first), str(only_second)] and only_first + only_second > 0
    p_toy = mcnemar(only_first, only_second).p_value
    p_vn = mcnemar(0, 6).p_value  # V-NIAH: one run right on all 6 codes, the other on none
    assert float(cells[13]) == pytest.approx(p_toy, abs=0.005)
    assert float(cells[14]) == pytest.approx(holm([p_toy, p_vn])[0], abs=0.005)
    # failed/malformed counts link to their examples on the page
    assert "#ex-toylab-0-malformed-data-records" in page.refs
    assert "missing field" in text  # the example itself
    for ref in page.refs:
        assert ref[1:] in page.ids, ref


def test_markdown_and_csv_carry_the_same_numbers(report) -> None:
    dest, runs, _ = report
    md = (dest / "report.md").read_text()
    rows = list(csv.reader(io.StringIO((dest / "report.csv").read_text())))
    text, _ = _page(dest)
    for run in runs:
        doc = json.loads((run / "results.json").read_text())
        for task, res in doc["results"].items():
            h = res["intervals"]
            for key in ("value", "low", "high"):
                assert f"{h[key]:.2f}" in md
                assert f"{h[key]:.1f}" in text
                hits = [
                    r
                    for r in rows
                    if r[0].startswith("Headline")
                    and r[1].startswith(task)
                    and r[2] == {"value": "value", "low": "95% low", "high": "95% high"}[key]
                ]
                assert any(float(r[3]) == pytest.approx(h[key]) for r in hits)
