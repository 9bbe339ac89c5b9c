"""The demo's live mode: a video file plays at its own rate, its frames enter a streaming session
as they come (``VideoLM.session``, docs/streaming.md), and a question asked at any moment is
answered from what has been seen so far — the page shows which past frames the answer retrieved,
with their timestamps, and which were in the recent window.

One :class:`LivePlay` per browser session: a background thread reads the file through
:class:`vlmctx.streaming.sources.FileSource` with ``realtime=True`` (a chunk is pushed when the
file's clock reaches its last frame, as a camera would deliver it) while the browser's player plays
the same file from the same moment. Stopping (the Stop button, a new Start, or the tab closing)
wakes the reader from its wait at once and closes the session. The session's device memory is
bounded by the budget; to show past frames the play keeps a small thumbnail of each sampled frame
(about 20 KB each, host memory, freed on stop).

Serving: an answer runs in the demo's ``model`` queue (one generation at a time, as a one-shot
answer); chunks are pushed from the reader thread under the model's lock, so pushes and answers of
all users take turns on the model and never see each other's state.
"""

from __future__ import annotations

import html
import math
import threading
from typing import Any

import gradio as gr
import numpy as np

from vlmctx.config import ContextConfig
from vlmctx.errors import VlmctxError

THUMB_WIDTH = 96
# Seek the live player to a clicked tick of the retrieval timeline.
LIVE_SEEK_JS = """
element.addEventListener('click', (event) => {
  const tick = event.target.closest('[data-t]');
  const player = document.querySelector('#live-video video');
  if (!tick || !player) return;
  player.currentTime = parseFloat(tick.dataset.t);
});
"""
# Before the server starts reading, play the browser's copy of the file from its start.
PLAY_JS = """
(...args) => {
  const player = document.querySelector('#live-video video');
  if (player) { player.muted = true; player.currentTime = 0; player.play().catch(() => {}); }
  return args;
}
"""


def thumbnail(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A copy of ``frame`` (h, w, 3) at most ``width`` pixels wide (every k-th pixel)."""
    step = max(1, math.ceil(frame.shape[1] / width))
    return np.ascontiguousarray(frame[::step, ::step])


class LivePlay:
    """A file played at its own rate into a streaming session, answerable at any moment."""

    def __init__(
        self,
        lm: Any,
        video: str,
        *,
        budget: int | None,
        host_budget: int | str | None = None,
        fps: float,
        chunk_frames: int,
        speed: float = 1.0,
        max_pixels: int | None = 448 * 448,
    ) -> None:
        from vlmctx.streaming.sources import FileSource

        self._stop = threading.Event()
        self.source = FileSource(video, fps=fps, chunk_frames=chunk_frames, realtime=True,
                                 speed=speed, max_pixels=max_pixels, sleep=self._stop.wait)  # fmt: skip
        self.session = lm.session(budget, host_budget=host_budget)
        self.video, self.duration_s = video, float(self.source.info.duration_s)
        self.thumbs: dict[int, np.ndarray] = {}
        self.now_s = 0.0
        self.state = "playing"
        self.notes: list[str] = []
        self._thread = threading.Thread(target=self._play, daemon=True, name="vlmctx-live")

    def start(self) -> LivePlay:
        self._thread.start()
        return self

    def _play(self) -> None:
        from vlmctx.streaming import ChunkError, SessionClosedError
        from vlmctx.streaming.errors import SourceError
        from vlmctx.streaming.sources import chunks_of

        try:
            for item in chunks_of(self.source):
                if self._stop.is_set():
                    break
                if isinstance(item, SourceError):
                    self.notes.append(str(item))
                    continue
                try:
                    self.session.push(item)
                except ChunkError as exc:
                    self.notes.append(f"chunk at {item.pts_s[0]:.2f} s refused: {exc}")
                    continue
                for i, frame in zip(item.indices, item.data, strict=True):
                    self.thumbs[int(i)] = thumbnail(frame)
                self.now_s = float(item.pts_s[-1])
        except SessionClosedError:
            pass
        except Exception as exc:  # noqa: BLE001 - the play ends; the page says why
            self.notes.append(f"the play stopped: {exc}")
        finally:
            self.state = "stopped" if self._stop.is_set() else "ended"

    def ask(self, question: str, max_new_tokens: int) -> tuple[Any, float]:
        """The session's answer now and the stream time it was asked at."""
        now = self.now_s
        if not self.session.stats()["frames_pushed"]:
            raise gr.Error("No frame has arrived yet: wait a moment after Start, then ask.")
        return self.session.ask(question, max_new_tokens=max_new_tokens), now

    def stop(self) -> None:
        """Stop reading (wakes the reader at once) and free the session."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.session.close()
        self.thumbs.clear()
        if self.state == "playing":
            self.state = "stopped"

    def status(self) -> str:
        st = self.session.stats() if not self.session.closed else None
        head = f"**{self.state}** at {self.now_s:.2f} s of {self.duration_s:.2f} s"
        if st is None:
            return head
        kv = st["device_kv_bytes"] / 2**10
        budget = "unbounded" if st["budget_tokens"] is None else f"budget {st['budget_tokens']}"
        body = (
            f" — {st['frames_pushed']} frames pushed; device KV {st['device_tokens']} tokens "
            f"({kv:,.1f} KiB, {budget}); {st['resident_blocks']} blocks in the recent window, "
            f"{st['offloaded_blocks']} offloaded: {st['host_kv_blocks']} as keys/values "
            f"({st['host_kv_bytes'] / 2**10:,.1f} KiB), {st['compact_blocks']} compact "
            f"({st['compact_bytes'] / 2**10:,.1f} KiB, re-encoded when retrieved); host "
            f"{st['host_bytes'] / 2**20:,.1f} MiB of {host_limit(st['host_budget'])}"
        )
        notes = "".join(f"\n\n- {html.escape(n)}" for n in self.notes[-3:])
        return head + body + notes


def host_limit(nbytes: int | None) -> str:
    return "no limit" if nbytes is None else f"{nbytes / 2**20:,.0f} MiB"


def answer_markdown(answer: Any, asked_s: float) -> str:
    """The answer, when it was asked, and the frames it was answered from (times in seconds)."""
    lines = [f"**At {asked_s:.2f} s:** {html.escape(answer.text) or '(empty answer)'}", ""]
    if answer.retrieved:
        lines.append("Retrieved from the past (offloaded blocks brought back for this question):")
        for r in answer.retrieved:
            times = ", ".join(f"{t:.2f} s" for _, t in r.frames)
            tier = "re-encoded from the compact tier" if r.tier == "compact" else f"{r.tier} tier"
            lines.append(f"- block {r.block} (score {r.score:+.2f}, {tier}): frames at {times}")
    else:
        lines.append("Retrieved from the past: none (everything seen is still in the window).")
    recent = [t for _, t in answer.recent]
    if recent:
        lines.append(
            f"\nRecent window: {len(recent)} frames, {recent[0]:.2f} s – {recent[-1]:.2f} s. "
            f"{answer.context_tokens} cached tokens attended to; retrieval "
            f"{1000 * answer.timings.get('retrieve', 0):.0f} ms, answer "
            f"{1000 * answer.timings.get('answer', 0):.0f} ms."
        )
    return "\n".join(lines)


def used_frames_timeline(answer: Any, duration_s: float) -> str:
    """A strip of the video's length: a tick per retrieved frame (orange) and per recent-window
    frame (blue), each at its true timestamp; a click seeks the player there."""
    duration = max(float(duration_s), 1e-6)
    ticks = []
    kinds = [("retrieved", f) for r in answer.retrieved for f in r.frames]
    kinds += [("recent", f) for f in answer.recent]
    for kind, (i, t) in kinds:
        left = min(max(t / duration, 0.0), 1.0) * 100
        title = html.escape(f"{kind} frame #{i} at {t:.2f} s (click to seek)")
        ticks.append(
            f'<button class="vt-tick live-{kind}" data-t="{t:.3f}" title="{title}" '
            f'aria-label="{title}" style="left:{left:.3f}%"></button>'
        )
    return (
        f'<div class="vt-wrap"><div class="vt-bar">{"".join(ticks)}</div>'
        f'<div class="vt-axis"><span>0 s</span><span>{len(answer.retrieved)} retrieved blocks '
        f"(orange), recent window (blue)</span><span>{duration:.2f} s</span></div></div>"
    )


def used_frames_gallery(play: LivePlay, answer: Any) -> list[tuple[np.ndarray, str]]:
    """Thumbnails of the frames the answer used, captioned with their time and origin."""
    out = []
    for r in answer.retrieved:
        for i, t in r.frames:
            if i in play.thumbs:
                out.append((play.thumbs[i], f"retrieved #{i} @ {t:.2f} s"))
    for i, t in answer.recent:
        if i in play.thumbs:
            out.append((play.thumbs[i], f"recent #{i} @ {t:.2f} s"))
    return out


class LiveDemo:
    """The live tab's handlers: one :class:`LivePlay` per browser session."""

    def __init__(
        self, lm: Any, *, max_upload_mb: float, max_question_chars: int, max_new_tokens: int
    ) -> None:
        self.lm = lm.with_config(ContextConfig())  # sessions use the model's own positions
        self.max_upload_mb = max_upload_mb
        self.max_question_chars, self.max_new_tokens = max_question_chars, max_new_tokens
        self.plays: dict[str, LivePlay] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(request: gr.Request | None) -> str:
        return str(getattr(request, "session_hash", None) or "local")

    def _play(self, request: gr.Request | None) -> LivePlay | None:
        with self._lock:
            return self.plays.get(self._key(request))

    def start(
        self,
        video: str | None,
        budget: Any,
        fps: Any,
        chunk_frames: Any,
        host_budget: Any = None,
        request: gr.Request = None,
    ) -> tuple[str, Any]:
        """Stop this browser's previous play, start reading ``video`` at its own rate; returns
        (status, timer update)."""
        import os

        if not video:
            raise gr.Error("No video yet: upload one or click 'Use the sample video'.")
        if os.path.getsize(video) > self.max_upload_mb * 2**20:
            raise gr.Error(f"This video is over the server's {self.max_upload_mb:g} MB limit.")
        budget_tokens = int(budget) if budget else None
        self.forget(request)
        try:
            play = LivePlay(self.lm, video, budget=budget_tokens, fps=float(fps),
                            chunk_frames=int(chunk_frames),
                            host_budget=(host_budget or "").strip() or None)  # fmt: skip
        except (VlmctxError, ValueError, TypeError) as exc:
            raise gr.Error(str(exc)) from exc
        with self._lock:
            self.plays[self._key(request)] = play.start()
        return play.status(), gr.Timer(active=True)

    def stop(self, request: gr.Request) -> tuple[str, Any]:
        play = self._play(request)
        if play is None:
            return "*Not playing.*", gr.Timer(active=False)
        play.stop()
        return play.status(), gr.Timer(active=False)

    def status(self, request: gr.Request) -> tuple[str, Any]:
        """The play's state (called every second while it plays; stops ticking at its end)."""
        play = self._play(request)
        if play is None:
            return "*Not playing.*", gr.Timer(active=False)
        return play.status(), gr.Timer(active=play.state == "playing")

    def ask(
        self, question: str, max_new_tokens: Any, request: gr.Request
    ) -> tuple[str, list[Any], str, str]:
        """(answer markdown, used-frames gallery, used-frames timeline, cleared question box)."""
        if not (question or "").strip():
            raise gr.Error("Type a question first.")
        if len(question) > self.max_question_chars:
            raise gr.Error(f"Questions are limited to {self.max_question_chars:,} characters.")
        n = int(max_new_tokens)
        if not 1 <= n <= self.max_new_tokens:
            raise gr.Error(f"Max new tokens must be between 1 and {self.max_new_tokens}.")
        play = self._play(request)
        if play is None or play.session.closed:
            raise gr.Error("Start the live play first (upload a video or use the sample).")
        try:
            answer, asked = play.ask(question, n)
        except VlmctxError as exc:
            raise gr.Error(str(exc)) from exc
        return (answer_markdown(answer, asked), used_frames_gallery(play, answer),
                used_frames_timeline(answer, play.duration_s), "")  # fmt: skip

    def forget(self, request: gr.Request | None = None) -> None:
        """Stop and drop this browser's play (a new Start, or the tab closing)."""
        with self._lock:
            play = self.plays.pop(self._key(request), None)
        if play is not None:
            play.stop()


def build_live_tab(
    lm: Any, *, sample: str | None, max_upload_mb: float, max_question_chars: int,
    max_new_tokens: int, demo: gr.Blocks,
) -> LiveDemo:  # fmt: skip
    """The live tab's components and events (inside an open ``gr.Tab``)."""
    live = LiveDemo(lm, max_upload_mb=max_upload_mb, max_question_chars=max_question_chars,
                    max_new_tokens=max_new_tokens)  # fmt: skip
    gr.Markdown(
        "Play a video at its own rate: its frames enter a streaming session as they come, with "
        "the device memory bounded by the budget. Ask at any moment; the answer comes from what "
        "has been seen so far and shows which past frames it retrieved."
    )
    with gr.Row():
        with gr.Column(scale=2):
            video = gr.Video(label="Video", sources=["upload"], elem_id="live-video")
            sample_btn = gr.Button("Use the sample video", elem_id="live-use-sample")
            with gr.Row():
                budget = gr.Number(8192, label="Budget (KV tokens; 0 = unbounded)", minimum=0,
                                   precision=0, elem_id="live-budget")  # fmt: skip
                fps = gr.Number(1.0, label="Frames per second", minimum=0.05, elem_id="live-fps")
                chunk = gr.Number(lm.adapter.settings.chunk_frames, label="Frames per chunk",
                                  minimum=1, precision=0,
                                  elem_id="live-chunk")  # fmt: skip
                host = gr.Textbox("", label="Host budget (e.g. 16GiB; empty = half the free "
                                  "memory; none = unbounded)", elem_id="live-host-budget")  # fmt: skip
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="live-start")
                stop = gr.Button("Stop", elem_id="live-stop")
            status = gr.Markdown("*Not playing.*", elem_id="live-status")
        with gr.Column(scale=3):
            question = gr.Textbox(label="Question (ask at any time)", max_length=max_question_chars,
                                  elem_id="live-q")  # fmt: skip
            with gr.Row():
                ask = gr.Button("Ask now", variant="primary", elem_id="live-ask")
                max_new = gr.Slider(1, max_new_tokens, value=min(32, max_new_tokens), step=1,
                                    label="Max new tokens")  # fmt: skip
            answer = gr.Markdown(elem_id="live-answer")
            timeline = gr.HTML("", js_on_load=LIVE_SEEK_JS, elem_id="live-timeline")
            gallery = gr.Gallery(label="Frames the answer used", columns=8, height="auto",
                                 elem_id="live-frames")  # fmt: skip
    timer = gr.Timer(1.0, active=False)
    start.click(live.start, [video, budget, fps, chunk, host], [status, timer], js=PLAY_JS,
                concurrency_id="live-control")  # fmt: skip
    stop.click(live.stop, None, [status, timer], concurrency_id="live-control")
    timer.tick(live.status, None, [status, timer], concurrency_id="live-status",
               concurrency_limit=None, show_progress="hidden")  # fmt: skip
    for trigger in (ask.click, question.submit):
        trigger(live.ask, [question, max_new], [answer, gallery, timeline, question],
                concurrency_id="model")  # fmt: skip
    if sample:
        sample_btn.click(lambda: sample, None, video)
    else:
        sample_btn.visible = False
    demo.unload(live.forget)
    return live
