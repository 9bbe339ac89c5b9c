"""The demo in a real browser: Debian's headless Chromium driven by Playwright (no downloads).

Loads the page, uploads the sample video, picks a pooler and a position scheme (their typed fields
appear, the other schemes' stay hidden), sets a field, sees the tokens/memory trade-off plot,
asks, waits for the streamed answer, the frame gallery, the readout and the timeline, clicks a
timeline tick (the player seeks there), and saves a screenshot in the test's tmp dir (and to ``docs/img/demo.png`` when
VLMCTX_UPDATE_SCREENSHOT=1). A second test drives the Live tab: the sample plays, a question asked
while it plays shows the past frames it retrieved, with their times.
Skipped, with the reason, only when Chromium or Playwright is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("VLMCTX_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "demo.png"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set VLMCTX_CHROMIUM)",
)


@contextlib.contextmanager
def _page(url: str) -> Iterator[tuple[Any, Any]]:
    """A Chromium page on the demo at ``url`` (loaded), and Playwright's ``expect``; the browser
    is closed afterwards whatever happens."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no Playwright: pip install playwright (no browser download)"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.locator("#ask").wait_for(timeout=180_000)  # the page is up (slow on a busy CPU)
            yield page, sync_api.expect
        finally:
            browser.close()


def _choose(page, dropdown: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown ``#dropdown``."""
    page.locator(f"#{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_upload_ask_stream_gallery_screenshot(demo_server, tmp_path: Path) -> None:
    from vlmctx.runtime.assets import sample_video

    _, url, _ = demo_server
    with _page(url) as (page, expect):
        page.locator("#video input[type=file]").set_input_files(str(sample_video()))
        page.locator("#video video").wait_for(timeout=60_000)  # upload finished
        # typed fields generated from the registries: only the selected scheme's are shown
        expect(page.locator("#param-pooling-progressive-group input")).to_be_hidden()
        _choose(page, "pooling", "progressive")
        group = page.locator("#param-pooling-progressive-group input")
        expect(group).to_be_visible(timeout=30_000)
        expect(group).to_have_value("4")  # the registry's default
        group.fill("8")
        group.press("Enter")
        _choose(page, "position", "yarn")
        expect(page.locator("#param-position-yarn-factor input")).to_be_visible()
        expect(page.locator("#param-position-yarn-attention_temperature input")).to_be_checked()
        expect(page.locator("#param-position-ntk-factor input")).to_be_hidden()
        expect(group).to_be_visible()  # the pooler's stay shown
        # the trade-off plot for this video and pooler, before asking
        caption = page.locator("#tradeoff-caption")
        expect(caption).to_contain_text("Pooler progressive", timeout=90_000)
        expect(page.locator("#tokens-plot canvas, #tokens-plot svg").first).to_be_visible()
        page.locator("#q textarea").fill(
            "What colour is the ball, and when does the square appear?"
        )
        page.locator("#ask").click()
        page.locator("#frames img").nth(15).wait_for(timeout=90_000)  # 16 frames
        readout = page.locator("#answer-readout")
        expect(readout).to_contain_text("time: generate", timeout=90_000)
        bot = page.locator("#chat [data-testid='bot']").last
        assert bot.inner_text().strip(), "no answer text in the chat"
        assert "@ 11." in page.locator("#frames").inner_text()  # captions with timestamps
        assert "visual tokens" in readout.inner_text() and "after (progressive)" in (
            readout.inner_text()
        )
        ticks = page.locator("#timeline .vt-tick")
        expect(ticks).to_have_count(16)
        tick = ticks.nth(8)
        t = float(tick.get_attribute("data-t") or "nan")
        tick.click()
        seek = "document.querySelector('#video video').currentTime"
        page.wait_for_function(f"Math.abs({seek} - {t}) < 0.2", timeout=10_000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
    if os.environ.get("VLMCTX_UPDATE_SCREENSHOT") == "1":  # refresh the README's screenshot
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "demo.png", SHOT)
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_live_tab_plays_asks_any_time_and_shows_retrieved_frames(
    demo_server, tmp_path: Path
) -> None:
    """The live tab: the sample plays in the page and into a streaming session at its own rate;
    a question asked while it plays is answered from what was seen, with the retrieved past
    frames shown with their times (gallery captions and ticks; a tick seeks the player)."""
    import re

    _, url, _ = demo_server
    with _page(url) as (page, expect):
        page.get_by_role("tab", name="Live").click(timeout=60_000)
        page.locator("#live-use-sample").click()
        page.locator("#live-video video").wait_for(timeout=60_000)
        page.locator("#live-budget input").fill("200")  # small: older blocks are offloaded
        page.locator("#live-start").click()
        status = page.locator("#live-status")
        expect(status).to_contain_text("playing", timeout=60_000)
        player = "document.querySelector('#live-video video')"
        page.wait_for_function(f"{player}.currentTime > 0.5 && !{player}.paused", timeout=30_000)
        # ask while it plays, once some blocks have been offloaded
        expect(status).to_contain_text(re.compile(r"[1-9]\d* offloaded"), timeout=90_000)
        assert "playing" in status.inner_text()
        page.locator("#live-q textarea").fill("What colour is the ball?")
        page.locator("#live-ask").click()
        answer = page.locator("#live-answer")
        expect(answer).to_contain_text("Retrieved from the past", timeout=90_000)
        text = answer.inner_text()
        asked = float(re.search(r"At ([\d.]+) s", text).group(1))
        blocks = [line for line in text.splitlines() if line.lstrip("- ").startswith("block")]
        times = [float(t) for line in blocks for t in re.findall(r"(\d+\.\d\d) s", line)]
        assert blocks and times and max(times) < asked
        captions = page.locator("#live-frames").inner_text()
        assert re.search(r"retrieved #\d+ @ \d+\.\d\d s", captions), captions
        ticks = page.locator("#live-timeline .live-retrieved")
        assert ticks.count() >= 1
        t = float(ticks.first.get_attribute("data-t") or "nan")
        page.locator("#live-stop").click()
        # stopped (or, on a slow machine, already at the end of the 12 s sample)
        expect(status).to_contain_text(re.compile("stopped|ended"), timeout=30_000)
        ticks.first.click()
        page.wait_for_function(f"Math.abs({player}.currentTime - {t}) < 0.3", timeout=10_000)
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    assert (tmp_path / "live.png").stat().st_size > 10_000
