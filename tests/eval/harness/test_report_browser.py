"""The HTML report in a real browser: Debian's headless Chromium driven by Playwright.

The page of a two-run comparison (toylab + V-NIAH) loads from a file with no console error and no
request leaving the file; every figure renders as an SVG with a real size; every score shows its
interval and n. A screenshot goes to the test's tmp dir (and to ``docs/img/eval_report.png`` when
VLMCTX_UPDATE_SCREENSHOT=1; docs/eval.md shows it). Skipped, with the reason, only when Chromium
or Playwright is not installed (tests/demos/test_browser.py does the same for the demo).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.eval.conftest import cli
from tests.eval.harness.report_fixture import make_two_runs

CHROMIUM = os.environ.get("VLMCTX_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOT = Path(__file__).resolve().parents[3] / "docs" / "img" / "eval_report.png"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set VLMCTX_CHROMIUM)",
)


def test_report_page_loads_offline_and_every_plot_renders(tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no Playwright: pip install playwright (no browser download)"
    )
    out, _ = make_two_runs(tmp_path)
    dest = tmp_path / "report"
    assert cli(["report", str(out), "--format", "html", "--output", str(dest)]) == 0
    page_file = dest / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load", timeout=60_000)
            figures = page.locator("figure svg")
            n = figures.count()
            assert n >= 6
            for i in range(n):
                box = figures.nth(i).bounding_box()
                assert box and box["width"] > 150 and box["height"] > 100, (i, box)
            scores = page.locator(".score")
            assert scores.count() > 20
            texts = page.locator("td:has(.score), .card").all_inner_texts()
            assert all("n=" in t for t in texts)
            assert page.locator("#compare table").count() == 1  # the paired comparison
            page.locator("nav a[href='#task-vniah']").click()  # in-page navigation works
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            if os.environ.get("VLMCTX_UPDATE_SCREENSHOT") == "1":
                page.goto(page_file.as_uri(), wait_until="load")
                page.screenshot(path=str(SHOT), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 20_000
    shutil.rmtree(dest)
