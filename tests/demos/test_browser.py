"""The demo in a real browser: Debian's headless Chromium driven by Playwright (no downloads).

Loads the page, uploads the sample video, asks, waits for the streamed answer, the frame gallery
and the readout, and saves a screenshot in the test's tmp dir (and to ``docs/img/demo.png`` when
VLMCTX_UPDATE_SCREENSHOT=1).
Skipped, with the reason, only when Chromium or Playwright is not installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


def test_upload_ask_stream_gallery_screenshot(demo_server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no Playwright: pip install playwright (no browser download)"
    )
    from vlmctx.assets import sample_video

    _, url, _ = demo_server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.locator("#ask").wait_for(timeout=60_000)
            page.locator("#video input[type=file]").set_input_files(str(sample_video()))
            page.locator("#video video").wait_for(timeout=60_000)  # upload finished
            page.locator("#q textarea").fill(
                "What colour is the ball, and when does the square appear?"
            )
            page.locator("#ask").click()
            page.locator("#frames img").nth(15).wait_for(timeout=90_000)  # 16 frames
            readout = page.locator("#answer-readout")
            sync_api.expect(readout).to_contain_text("time: generate", timeout=90_000)
            bot = page.locator("#chat [data-testid='bot']").last
            assert bot.inner_text().strip(), "no answer text in the chat"
            assert "@ 11." in page.locator("#frames").inner_text()  # captions with timestamps
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        finally:
            browser.close()
    if os.environ.get("VLMCTX_UPDATE_SCREENSHOT") == "1":  # refresh the README's screenshot
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "demo.png", SHOT)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
