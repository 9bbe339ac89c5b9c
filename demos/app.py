"""The Gradio video-QA demo: upload a video (or take the bundled sample), ask, watch it answer.

What it shows that the usual VLM demos do not (see the ecosystem notes): the sampled frames with
their true timestamps, the visual-token count, planned and measured memory and the time of each
stage, for every answer. A follow-up question reuses the decoded frames of the session, so a chat
about one video never decodes it again. Each pooler's and position scheme's parameters are typed
fields generated from the registries (``demos/controls.py``), shown for the one selected; a
timeline under the video marks the sampled frames (a click seeks the player there); and a plot
shows visual tokens and planned memory against the frame count for the current video and pooler
before anything is asked. A second tab, *Live* (``demos/live.py``), plays a video at its own rate
into a streaming session and answers at any moment, showing which past frames it retrieved.

Serving rules: a queue with a concurrency limit (one generation at a time by default, so one GPU
is never oversubscribed); an upload size limit with a message that says what to do; Gradio's own
upload cache in a folder of ours, cleaned periodically; and the file route serves only what the
app produced (frames, uploads) or was given (the sample video) — Gradio refuses any other path.
A client that goes away closes the answer stream (the generator's ``finally``), which stops the
generation at the next token and frees the model for the next user.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from vlmctx.config import ContextConfig
from vlmctx.errors import ConfigError, VlmctxError
from vlmctx_demos.controls import ParamSpec, all_specs, build_fields, chosen_params, defaults
from vlmctx_demos.live import build_live_tab
from vlmctx_demos.readout import (
    frame_captions,
    memory_plan_for,
    readout_markdown,
    timeline_html,
    tradeoff,
)

CSS = """
#answer-readout table {font-size: 0.85em}
#frames .caption-label, #frames figcaption {white-space: normal; overflow: visible;
  text-overflow: clip; font-size: 0.75em}
.vt-wrap {margin: 4px 0 2px}
.vt-bar {position: relative; height: 22px; border-radius: 4px; background: #e5e7eb}
.vt-tick {position: absolute; top: 2px; width: 4px; height: 18px; margin-left: -2px; padding: 0;
  border: 0; border-radius: 2px; background: #f97316; cursor: pointer}
.vt-tick:hover, .vt-tick:focus {background: #c2410c; width: 6px; margin-left: -3px}
.vt-tick.live-recent {background: #3b82f6}
.vt-axis {display: flex; justify-content: space-between; font-size: 0.75em; opacity: 0.8}
"""
# Seek the player to a timeline tick (gr.HTML runs this once; the listener outlives updates).
SEEK_JS = """
element.addEventListener('click', (event) => {
  const tick = event.target.closest('[data-t]');
  const player = document.querySelector('#video video');
  if (!tick || !player) return;
  player.currentTime = parseFloat(tick.dataset.t);
});
"""
# Defaults of the serving caps (``vlmctx demo --max-question-chars / --max-new-tokens``).
MAX_QUESTION_CHARS = 2000
MAX_NEW_TOKENS = 512


@dataclass
class Session:
    """Per-browser-session state: the decoded video and the chat about it."""

    key: tuple[Any, ...] | None = None  # (path, size, config json) of the decoded frames
    video: str | None = None
    frames: Any = None
    history: list[tuple[str, str]] = field(default_factory=list)


def _registry_names(lm: Any, kind: str, module: str, attr: str, default: str) -> list[str]:
    """Names of a registry that this engine accepts (only ``default`` when the registry is absent)."""
    try:
        reg = getattr(__import__(module, fromlist=[attr]), attr)
        names = list(reg.names())
    except (ImportError, AttributeError):
        return [default]
    ok = [default]
    for name in names:
        if name == default:
            continue
        try:
            lm.with_config(ContextConfig(**{kind: name}))
            ok.append(name)
        except (ConfigError, TypeError):
            continue
    return ok


def make_config(
    sampler: str,
    n_frames: int,
    fps: float,
    pooling: str,
    pooling_params: dict[str, Any],
    position: str,
    position_params: dict[str, Any],
) -> ContextConfig:
    """A ContextConfig from the UI controls (frames -> ``n`` or ``max_frames`` by sampler)."""
    from vlmctx.video import SAMPLERS

    accepted = SAMPLERS.entry(sampler).parameters()
    sp: dict[str, Any] = {}
    if "fps" in accepted:
        sp["fps"] = float(fps)
        if "max_frames" in accepted:
            sp["max_frames"] = int(n_frames)
    elif "n" in accepted:
        sp["n"] = int(n_frames)
    return ContextConfig(
        sampler=sampler,
        sampler_params=sp,
        pooling=pooling or "none",
        pooling_params=dict(pooling_params),
        position=position or "default",
        position_params=dict(position_params),
    )


class DemoApp:
    """The handlers behind the page, bound to one loaded :class:`~vlmctx.engine.VideoLM`."""

    def __init__(
        self,
        lm: Any,
        *,
        max_upload_mb: float = 200.0,
        max_question_chars: int = MAX_QUESTION_CHARS,
        max_new_tokens: int = MAX_NEW_TOKENS,
    ) -> None:
        self.lm = lm
        self.max_upload_mb = max_upload_mb
        self.max_question_chars, self.max_new_tokens = max_question_chars, max_new_tokens
        self.poolers = _registry_names(lm, "pooling", "vlmctx.pooling", "POOLERS", "none")
        self.positions = _registry_names(lm, "position", "vlmctx.position", "POSITIONS", "default")
        self.specs: list[ParamSpec] = all_specs(self.poolers, self.positions)

    def controls(
        self,
        sampler: str = "uniform",
        n_frames: int = 16,
        fps: float = 1.0,
        pooling: str = "none",
        position: str = "default",
        **params: dict[str, Any],
    ) -> tuple[Any, ...]:
        """The control values the page sends (``params``: {pooler or scheme: {name: value}})."""
        return (sampler, n_frames, fps, pooling, position, *defaults(self.specs, **params))

    def config(
        self, sampler: str, n_frames: int, fps: float, pooling: str, position: str, *values: Any
    ) -> ContextConfig:
        """The ContextConfig of the page's controls: the selected pooler's and scheme's fields
        (only those changed from their defaults; an empty field means the scheme's choice)."""
        pooling, position = pooling or "none", position or "default"
        return make_config(
            sampler, n_frames, fps,
            pooling, chosen_params(self.specs, values, "pooling", pooling),
            position, chosen_params(self.specs, values, "position", position),
        )  # fmt: skip

    def _check_request(self, question: str, max_new_tokens: Any) -> int:
        """Refuse what would hold the only generation slot for minutes (a 200,000-character
        question took 277 s and 2.8 GB); return the answer-length cap to use."""
        if not (question or "").strip():
            raise gr.Error("Type a question first.")
        if len(question) > self.max_question_chars:
            raise gr.Error(
                f"This question is {len(question):,} characters; this server accepts up to "
                f"{self.max_question_chars:,}. Shorten it (or restart the demo with a larger "
                "--max-question-chars)."
            )
        try:
            n = int(max_new_tokens)
        except (TypeError, ValueError):
            raise gr.Error("Max new tokens must be a whole number.") from None
        if not 1 <= n <= self.max_new_tokens:
            raise gr.Error(
                f"Max new tokens must be between 1 and {self.max_new_tokens} on this server "
                "(restart the demo with a larger --max-new-tokens for longer answers)."
            )
        return n

    def _check_upload(self, video: str | None) -> str:
        if not video:
            raise gr.Error("No video yet: upload one or click 'Use the sample video'.")
        size = os.path.getsize(video)
        if size > self.max_upload_mb * 2**20:
            raise gr.Error(
                f"This video is {size / 2**20:.0f} MB; this server accepts up to "
                f"{self.max_upload_mb:g} MB. Trim or re-encode it (e.g. ffmpeg -t 600 -vf "
                "scale=-2:480), or restart the demo with a larger --max-upload-mb."
            )
        return video

    def _frames(self, lm: Any, video: str, session: Session) -> tuple[Any, float, bool]:
        """Decoded frames for (video, config): the session's when unchanged, else decode now."""
        import time

        key = (video, os.path.getsize(video), lm.config.to_json())
        if session.key == key:
            return session.frames, 0.0, True
        t0 = time.perf_counter()
        frames = lm.frames(video)
        if session.video != video:
            session.history = []
        session.key, session.video, session.frames = key, video, frames
        return frames, time.perf_counter() - t0, False

    def respond(
        self,
        video: str | None,
        question: str,
        chat: list[dict[str, Any]] | None,
        session: Session | None,
        max_new_tokens: int,
        *controls: Any,
    ) -> Iterator[tuple[Any, ...]]:
        """Generator for the Ask event: yields (chat, gallery, readout, session, question box,
        timeline). ``controls``: sampler, frames, fps, pooling, position, then every field of
        ``self.specs`` (see :meth:`controls`)."""
        session = session if session is not None else Session()
        video = self._check_upload(video)
        max_new_tokens = self._check_request(question, max_new_tokens)
        try:
            lm = self.lm.with_config(self.config(*controls))
            frames, decode_s, cached = self._frames(lm, video, session)
        except VlmctxError as exc:
            raise gr.Error(str(exc)) from exc
        chat = [] if not session.history else list(chat or [])
        chat += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        gallery = list(zip(frames.data, frame_captions(frames.indices, frames.pts_s), strict=True))
        timeline = timeline_html(frames.pts_s, frames.indices, frames.info.duration_s)
        yield chat, gallery, "*answering...*", session, "", timeline
        text = ""
        try:
            stream = lm.ask(
                frames,
                question,
                history=session.history,
                max_new_tokens=int(max_new_tokens),
                stream=True,
            )
            try:  # a client that leaves closes this generator: stop generating at once
                for piece in stream:
                    text += piece
                    chat[-1] = {"role": "assistant", "content": text}
                    yield chat, gr.skip(), gr.skip(), session, "", gr.skip()
            finally:
                stream.close()
        except VlmctxError as exc:
            raise gr.Error(str(exc)) from exc
        answer = stream.answer.to_dict()
        answer["timings"]["decode"] = round(decode_s, 4)
        chat[-1] = {"role": "assistant", "content": answer["text"] or "(empty answer)"}
        session.history.append((question, answer["text"]))
        plan = memory_plan_for(lm, frames, session.history[0][0])  # the turn that carries the video
        readout = readout_markdown(answer, plan, cached=cached, device=lm.device)
        yield chat, gr.skip(), readout, session, "", gr.skip()

    def clear(self) -> tuple[list, None, str, Session]:
        return [], None, "", Session()

    def plot(self, video: str | None, *controls: Any) -> tuple[Any, Any, str]:
        """(tokens table, memory table, caption) of the trade-off plot for ``video`` under the
        current pooler, before anything is asked; empty tables while there is no video."""
        import pandas as pd

        columns = ["frames", "visual tokens", "planned MiB", "counted"]
        if not video or not os.path.exists(video):
            empty = pd.DataFrame(columns=columns)
            return empty, empty, "*Upload a video (or use the sample) to see the trade-off.*"
        try:
            cfg = self.config(*controls)
            points = tradeoff(self.lm, video, cfg.pooling, dict(cfg.pooling_params))
            current = self._frame_count(video, cfg)
        except VlmctxError as exc:
            return pd.DataFrame(columns=columns), pd.DataFrame(columns=columns), f"*{exc}*"
        rows = [(p.frames, p.visual_tokens, round(p.planned_bytes / 2**20, 2),
                 "exact" if p.exact else "extended") for p in points]  # fmt: skip
        table = pd.DataFrame(rows, columns=columns)
        near = min(points, key=lambda p: abs(p.frames - current))
        caption = (
            f"Pooler `{cfg.pooling}`, `{self.lm.model_id}`: {points[-1].frames} frames would be "
            f"{points[-1].visual_tokens:,} visual tokens and plan "
            f"{points[-1].planned_bytes / 2**20:,.1f} MiB at prefill. Your setting picks "
            f"{current} frames (nearest point: {near.frames} -> {near.visual_tokens:,} tokens). "
            "Counts above 16 frames extend the exact per-frame count; position schemes change "
            "no token counts."
        )
        return table, table, caption

    @staticmethod
    def _frame_count(video: str, cfg: ContextConfig) -> int:
        """How many frames the configured sampler picks from ``video`` (probe only, no decode)."""
        from vlmctx.video import SAMPLERS, probe

        sampler = SAMPLERS.create(cfg.sampler, **dict(cfg.sampler_params))
        return len(sampler.select(probe(video)))


def build_app(
    lm: Any,
    *,
    sample: str | None = None,
    max_upload_mb: float = 200.0,
    max_question_chars: int = MAX_QUESTION_CHARS,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> gr.Blocks:
    """The page: video, timeline and controls on the left; chat, frames, readout and the
    tokens/memory trade-off plot on the right."""
    from vlmctx.video import SAMPLERS

    app = DemoApp(lm, max_upload_mb=max_upload_mb, max_question_chars=max_question_chars,
                  max_new_tokens=max_new_tokens)  # fmt: skip
    poolers, positions = app.poolers, app.positions
    with gr.Blocks(title="vlmctx video QA", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(
            f"## vlmctx video QA\nModel `{lm.model_id}` on `{lm.device}`. Upload a video (up to "
            f"{max_upload_mb:g} MB) or use the sample, then ask. Follow-up questions reuse the "
            "decoded frames. The *Live* tab plays a video at its own rate and answers at any "
            "moment from what it has seen. A larger video: trim or downscale it (e.g. `ffmpeg -i "
            "in.mp4 -t 600 -vf scale=-2:480 out.mp4`), or ask on your machine with "
            "`vlmctx ask VIDEO 'question'` (no size limit).",
            elem_id="intro",
        )
        session = gr.State(None)
        with gr.Tab("Ask about a video", elem_id="tab-ask"), gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video")
                timeline = gr.HTML("", js_on_load=SEEK_JS, elem_id="timeline")
                sample_btn = gr.Button("Use the sample video", elem_id="use-sample")
                with gr.Accordion("Context", open=True):
                    sampler = gr.Dropdown(SAMPLERS.names(), value="uniform", label="Sampler")
                    n_frames = gr.Slider(1, 256, value=16, step=1, label="Frames (max frames)",
                                         elem_id="n-frames")  # fmt: skip
                    fps = gr.Number(1.0, label="Frames per second (fps sampler)", minimum=0.01)
                    pooling = gr.Dropdown(poolers, value=poolers[0], label="Pooling",
                                          elem_id="pooling")  # fmt: skip
                    position = gr.Dropdown(positions, value=positions[0], label="Position scheme",
                                           elem_id="position")  # fmt: skip
                    groups, fields = build_fields(
                        app.specs, {"pooling": poolers[0], "position": positions[0]}
                    )
                    max_new = gr.Slider(1, max_new_tokens, value=min(128, max_new_tokens),
                                        step=1, label="Max new tokens")  # fmt: skip
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=320, elem_id="chat")
                question = gr.Textbox(label="Question", placeholder="What happens?",
                                      max_length=max_question_chars, elem_id="q")  # fmt: skip
                with gr.Row():
                    ask = gr.Button("Ask", variant="primary", elem_id="ask")
                    clear = gr.Button("New chat")
                gallery = gr.Gallery(
                    label="Sampled frames", columns=6, height="auto", elem_id="frames"
                )
                readout = gr.Markdown(elem_id="answer-readout")
                with gr.Accordion("Tokens and planned memory vs frames", open=True):
                    plot_caption = gr.Markdown(elem_id="tradeoff-caption")
                    with gr.Row():
                        tokens_plot = gr.LinePlot(x="frames", y="visual tokens",
                                                  tooltip="all", height=220,
                                                  elem_id="tokens-plot")  # fmt: skip
                        memory_plot = gr.LinePlot(x="frames", y="planned MiB",
                                                  tooltip="all", height=220,
                                                  elem_id="memory-plot")  # fmt: skip
        controls = [sampler, n_frames, fps, pooling, position, *fields]
        inputs = [video, question, chat, session, max_new, *controls]
        outputs = [chat, gallery, readout, session, question, timeline]
        for trigger in (ask.click, question.submit):
            trigger(app.respond, inputs, outputs, concurrency_id="model")
        clear.click(app.clear, None, [chat, gallery, readout, session])
        _show_selected(pooling, "pooling", groups)
        _show_selected(position, "position", groups)
        video.change(lambda _: "", video, timeline)  # a new video: old ticks do not apply
        plot_triggers = [video.change, sampler.change, n_frames.release, fps.submit,
                         pooling.change, *(f.change for f in fields[: _n_pooling(app)])]  # fmt: skip
        gr.on(plot_triggers, app.plot, [video, *controls],
              [tokens_plot, memory_plot, plot_caption], concurrency_id="plan",
              trigger_mode="always_last")  # fmt: skip
        if sample:
            sample_btn.click(lambda: sample, None, video)
        else:
            sample_btn.visible = False
        with gr.Tab("Live", elem_id="tab-live"):
            build_live_tab(lm, sample=sample, max_upload_mb=max_upload_mb, demo=demo,
                           max_question_chars=max_question_chars,
                           max_new_tokens=max_new_tokens)  # fmt: skip
    return demo


def _n_pooling(app: DemoApp) -> int:
    """How many of ``app.specs`` are pooler fields (they come first; they change the plot)."""
    return sum(1 for s in app.specs if s.kind == "pooling")


def _show_selected(dropdown: Any, kind: str, groups: dict[tuple[str, str], Any]) -> None:
    """Show only the selected pooler's (or scheme's) parameter group when ``dropdown`` changes."""
    keys = [k for k in groups if k[0] == kind]
    if not keys:
        return

    def show(name: str) -> list[Any]:
        return [gr.update(visible=k[1] == name) for k in keys]

    dropdown.change(show, dropdown, [groups[k] for k in keys], queue=False)
