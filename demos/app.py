"""The Gradio video-QA demo: upload a video (or take the bundled sample), ask, watch it answer.

What it shows that the usual VLM demos do not (see the ecosystem notes): the sampled frames with
their true timestamps, the visual-token count, planned and measured memory and the time of each
stage, for every answer. A follow-up question reuses the decoded frames of the session, so a chat
about one video never decodes it again.

Serving rules: a queue with a concurrency limit (one generation at a time by default, so one GPU
is never oversubscribed); an upload size limit with a message that says what to do; Gradio's own
upload cache in a folder of ours, cleaned periodically; and the file route serves only what the
app produced (frames, uploads) or was given (the sample video) — Gradio refuses any other path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from vlmctx.config import ContextConfig
from vlmctx.errors import ConfigError, VlmctxError
from vlmctx_demos.readout import frame_captions, memory_plan_for, readout_markdown

CSS = "#answer-readout table {font-size: 0.85em}"
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


def _params(text: str, what: str) -> dict[str, Any]:
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise gr.Error(f'{what} parameters must be a JSON object, e.g. {{"r": 2}} ({exc})') from exc
    if not isinstance(value, dict):
        raise gr.Error(f'{what} parameters must be a JSON object, e.g. {{"r": 2}}')
    return value


def make_config(
    sampler: str,
    n_frames: int,
    fps: float,
    pooling: str,
    pooling_params: str,
    position: str,
    position_params: str,
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
        pooling_params=_params(pooling_params, "pooling"),
        position=position or "default",
        position_params=_params(position_params, "position"),
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
    ):
        """Generator for the Ask event: yields (chat, gallery, readout, session, question box)."""
        session = session if session is not None else Session()
        video = self._check_upload(video)
        max_new_tokens = self._check_request(question, max_new_tokens)
        try:
            lm = self.lm.with_config(make_config(*controls))
            frames, decode_s, cached = self._frames(lm, video, session)
        except VlmctxError as exc:
            raise gr.Error(str(exc)) from exc
        chat = [] if not session.history else list(chat or [])
        chat += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        gallery = list(zip(frames.data, frame_captions(frames.indices, frames.pts_s), strict=True))
        yield chat, gallery, "*answering...*", session, ""
        text = ""
        try:
            stream = lm.ask(
                frames,
                question,
                history=session.history,
                max_new_tokens=int(max_new_tokens),
                stream=True,
            )
            for piece in stream:
                text += piece
                chat[-1] = {"role": "assistant", "content": text}
                yield chat, gr.skip(), gr.skip(), session, ""
        except VlmctxError as exc:
            raise gr.Error(str(exc)) from exc
        answer = stream.answer.to_dict()
        answer["timings"]["decode"] = round(decode_s, 4)
        chat[-1] = {"role": "assistant", "content": answer["text"] or "(empty answer)"}
        session.history.append((question, answer["text"]))
        plan = memory_plan_for(lm, frames, session.history[0][0])  # the turn that carries the video
        readout = readout_markdown(answer, plan, cached=cached, device=lm.device)
        yield chat, gr.skip(), readout, session, ""

    def clear(self) -> tuple[list, None, str, Session]:
        return [], None, "", Session()


def build_app(
    lm: Any,
    *,
    sample: str | None = None,
    max_upload_mb: float = 200.0,
    max_question_chars: int = MAX_QUESTION_CHARS,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> gr.Blocks:
    """The page: video + controls on the left, chat, frame gallery and readout on the right."""
    from vlmctx.video import SAMPLERS

    app = DemoApp(lm, max_upload_mb=max_upload_mb, max_question_chars=max_question_chars,
                  max_new_tokens=max_new_tokens)  # fmt: skip
    poolers = _registry_names(lm, "pooling", "vlmctx.pooling", "POOLERS", "none")
    positions = _registry_names(lm, "position", "vlmctx.position", "POSITIONS", "default")
    with gr.Blocks(title="vlmctx video QA", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(
            f"## vlmctx video QA\nModel `{lm.model_id}` on `{lm.device}`. Upload a video (up to "
            f"{max_upload_mb:g} MB) or use the sample, then ask. Follow-up questions reuse the "
            "decoded frames."
        )
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video")
                sample_btn = gr.Button("Use the sample video", elem_id="use-sample")
                with gr.Accordion("Context", open=True):
                    sampler = gr.Dropdown(SAMPLERS.names(), value="uniform", label="Sampler")
                    n_frames = gr.Slider(1, 256, value=16, step=1, label="Frames (max frames)")
                    fps = gr.Number(1.0, label="Frames per second (fps sampler)", minimum=0.01)
                    pooling = gr.Dropdown(poolers, value=poolers[0], label="Pooling")
                    pooling_params = gr.Textbox("", label="Pooling parameters (JSON)")
                    position = gr.Dropdown(positions, value=positions[0], label="Position scheme")
                    position_params = gr.Textbox("", label="Position parameters (JSON)")
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
                    label="Sampled frames", columns=8, height=260, elem_id="frames"
                )
                readout = gr.Markdown(elem_id="answer-readout")
        controls = [sampler, n_frames, fps, pooling, pooling_params, position, position_params]
        inputs = [video, question, chat, session, max_new, *controls]
        outputs = [chat, gallery, readout, session, question]
        for trigger in (ask.click, question.submit):
            trigger(app.respond, inputs, outputs, concurrency_id="model")
        clear.click(app.clear, None, [chat, gallery, readout, session])
        if sample:
            sample_btn.click(lambda: sample, None, video)
        else:
            sample_btn.visible = False
    return demo
