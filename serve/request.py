"""An OpenAI chat-completions request body -> a validated :class:`ChatRequest`.

Checked here, before the request waits for the model: the JSON shape, the model name, the message
roles and content parts (``text``, ``video_url``, ``image_url``: one medium, in the first user
message, where vlmctx's prompts put the video), the length caps, and vlmctx's own options (extra
body fields: ``frames``, ``fps``, ``sampler``, ``sampler_args``, ``max_pixels``, ``pooling``,
``pooling_args``, ``position``, ``position_args``, ``subtitles``, ``subtitles_placement``,
``subtitle_tokens``), merged over the server's configuration with the CLI's rules
(``--frames`` is the fps sampler's ``max_frames``, ``--fps`` alone picks the fps sampler) and built
by the same registries as ``vlmctx ask``. Unknown fields are refused with a "did you mean", never
dropped. Sampling parameters other than greedy ones are refused: answers equal ``vlmctx ask``'s.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.errors import VlmctxError
from vlmctx_serve.errors import APIError, bad_request
from vlmctx_serve.settings import ServeSettings

OPENAI_FIELDS = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "n", "user", "seed", "frequency_penalty", "presence_penalty",
    "logprobs",
}  # fmt: skip
VLMCTX_FIELDS = {
    "frames", "fps", "sampler", "sampler_args", "max_pixels", "pooling", "pooling_args",
    "position", "position_args", "subtitles", "subtitles_placement", "subtitle_tokens",
}  # fmt: skip
# OpenAI parameters accepted only at the value that means greedy, single-answer decoding
NEUTRAL = {"temperature": 0, "top_p": 1, "n": 1, "frequency_penalty": 0, "presence_penalty": 0}
PLACEMENTS = ("auto", "interleaved", "before")
FRAME_COUNTS = ("n", "min_frames", "max_frames")  # sampler parameters that count frames


@dataclass
class ChatRequest:
    """What one request asks: the question, earlier turns, at most one medium and the config."""

    question: str
    history: list[tuple[str, str]]
    media: tuple[str, str, str] | None  # (kind: video|image, url, param) or None
    config: ContextConfig
    max_tokens: int
    stream: bool = False
    include_usage: bool = False
    subtitles: dict[str, Any] | None = None  # url, placement, tokens
    notes: dict[str, Any] = field(default_factory=dict)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise bad_request(
            f"the request body is not valid JSON{where}", None, "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", None, "invalid_json")
    return body


def parse_chat(body: dict[str, Any], settings: ServeSettings, base: ContextConfig) -> ChatRequest:
    """Validate ``body`` against the settings; ``base`` is the server's own configuration."""
    unknown = sorted(set(body) - OPENAI_FIELDS - VLMCTX_FIELDS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(OPENAI_FIELDS | VLMCTX_FIELDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise bad_request(f"unknown field {unknown[0]!r}{hint}; vlmctx options: "
                          f"{', '.join(sorted(VLMCTX_FIELDS))} (docs/serve.md)", unknown[0])  # fmt: skip
    model = body.get("model")
    if not isinstance(model, str):
        raise bad_request("'model' is required: the served model's id (GET /v1/models)", "model")
    if model != settings.model:
        raise APIError(404, f"the model {model!r} does not exist; this server serves "
                       f"{settings.model!r}", param="model", code="model_not_found")  # fmt: skip
    _check_neutral(body)
    stream = _bool(body, "stream")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict) or set(opts) - {"include_usage"}:
        raise bad_request("stream_options may hold only include_usage", "stream_options")
    question, history, media, notes = _messages(body.get("messages"))
    texts = len(question) + sum(len(q) + len(a) for q, a in history)
    if texts > settings.max_question_chars:
        raise bad_request(f"the messages hold {texts} characters of text; the server's "
                          f"--max-question-chars is {settings.max_question_chars}", "messages")  # fmt: skip
    _check_frame_counts(body, settings.max_frames)
    return ChatRequest(
        question=question,
        history=history,
        media=media,
        config=request_config(body, base),
        max_tokens=_max_tokens(body, settings),
        stream=stream,
        include_usage=bool(opts.get("include_usage", False)),
        subtitles=_subtitles(body),
        notes=notes,
    )


def _check_frame_counts(body: dict[str, Any], cap: int) -> None:
    """Frame counts a request names (``frames``, a sampler's ``n``/``min_frames``/``max_frames``,
    a window's inner sampler's) within ``--max-frames``: samplers allocate per requested frame
    before the count of the selection can be checked."""
    args = body.get("sampler_args") if isinstance(body.get("sampler_args"), dict) else {}
    inner = args.get("inner_params") if isinstance(args.get("inner_params"), dict) else {}
    named = [("frames", body.get("frames"))]
    named += [(f"sampler_args.{k}", args.get(k)) for k in FRAME_COUNTS]
    named += [(f"sampler_args.inner_params.{k}", inner.get(k)) for k in FRAME_COUNTS]
    for param, value in named:
        if _is_number(value) and value > cap:
            raise bad_request(f"{param}={value} asks for more frames than the server's "
                              f"--max-frames ({cap})", param, "too_many_frames")  # fmt: skip


def _check_neutral(body: dict[str, Any]) -> None:
    for key, neutral in NEUTRAL.items():
        value = body.get(key)
        if value is not None and value != neutral:
            raise bad_request(f"{key}={value!r} is not supported: vlmctx serve decodes greedily "
                              f"(answers equal `vlmctx ask`'s); leave it out or set {neutral}", key)  # fmt: skip
    if body.get("logprobs"):
        raise bad_request("logprobs are not supported", "logprobs")


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false", key)
    return value


def _max_tokens(body: dict[str, Any], settings: ServeSettings) -> int:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(key)
    if value is None:
        return min(settings.default_max_tokens, settings.max_new_tokens)
    if not _is_int(value) or not 1 <= value <= settings.max_new_tokens:
        raise bad_request(f"{key} must be a whole number from 1 to {settings.max_new_tokens} "
                          "(the server's --max-new-tokens)", key)  # fmt: skip
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _messages(messages: Any) -> tuple[str, list[tuple[str, str]], Any, dict[str, Any]]:
    """(question, history, medium, notes) from OpenAI messages: system messages, then user and
    assistant turns alternating, ending with a user turn."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    system: list[str] = []
    turns: list[tuple[str, str]] = []  # (role, text)
    media = None
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise bad_request(f"{param} must be an object with a role", param)
        role = msg["role"]
        if role not in ("system", "developer", "user", "assistant"):
            raise bad_request(f"{param}.role {role!r} is not supported; use system, user or "
                              "assistant", f"{param}.role")  # fmt: skip
        text, medium = _content(msg.get("content"), f"{param}.content", role)
        if medium is not None:
            first_user = not any(r == "user" for r, _ in turns)
            if media is not None or not first_user:
                raise bad_request("one video or image per conversation, in the first user "
                                  "message (vlmctx's prompts carry it there)", medium[2])  # fmt: skip
            media = medium
        if role in ("system", "developer"):
            if turns:
                raise bad_request("system messages go before the conversation", param)
            system.append(text)
            continue
        expected = "user" if not turns or turns[-1][0] == "assistant" else "assistant"
        if role != expected:
            raise bad_request(f"{param}: expected a {expected} message (user and assistant "
                              "turns alternate, ending with a user turn)", param)  # fmt: skip
        turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise bad_request("the last message must be a user message", "messages")
    if not turns[-1][1].strip():
        raise bad_request("the question (the last user message's text) is empty", "messages")
    notes: dict[str, Any] = {}
    users = [t for r, t in turns if r == "user"]
    answers = [t for r, t in turns if r == "assistant"]
    if system:  # no system turn in vlmctx's prompts: it goes before the first question
        users[0] = "\n\n".join(system + [users[0]])
        notes["system_prompt"] = "prepended to the first user message"
    return users[-1], list(zip(users[:-1], answers, strict=True)), media, notes


def _content(content: Any, param: str, role: str) -> tuple[str, Any]:
    """(text, medium or None) of one message's content: a string or a list of parts."""
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise bad_request(f"{param} must be a string or a list of content parts", param)
    texts, medium = [], None
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
            continue
        if kind in ("video_url", "image_url"):
            if role != "user":
                raise bad_request(f"{p}: only user messages may carry media", p)
            ref = part.get(kind)
            url = ref.get("url") if isinstance(ref, dict) else None
            if not isinstance(url, str):
                raise bad_request(f'{p} must be {{"type": "{kind}", "{kind}": {{"url": ...}}}}', p)
            if medium is not None:
                raise bad_request("one video or image per conversation", p)
            medium = (kind.removesuffix("_url"), url, f"{p}.{kind}.url")
            continue
        raise bad_request(f"{p}: content part type {kind!r} is not supported; use text, "
                          "video_url or image_url (each with its object)", p)  # fmt: skip
    return "\n".join(texts), medium


def request_config(body: dict[str, Any], base: ContextConfig) -> ContextConfig:
    """The server's config with the request's vlmctx options on top (the CLI's merge rules)."""
    frames, fps, pixels = body.get("frames"), body.get("fps"), body.get("max_pixels")
    if frames is not None and (not _is_int(frames) or frames < 1):
        raise bad_request("frames must be a whole number of at least 1", "frames")
    if fps is not None and not (_is_number(fps) and fps > 0):
        raise bad_request("fps must be a positive number", "fps")
    if pixels is not None and (not _is_int(pixels) or pixels < 1):
        raise bad_request("max_pixels must be a positive whole number", "max_pixels")
    names = {k: body.get(k) for k in ("sampler", "pooling", "position")}
    for key, name in names.items():
        if name is not None and not isinstance(name, str):
            raise bad_request(f"{key} must be a name (`vlmctx ls` lists them)", key)
    args = {k: _params(body, f"{k}_args") for k in ("sampler", "pooling", "position")}
    sampler = names["sampler"] or ("fps" if fps is not None else base.sampler)
    sp = dict(base.sampler_params) if sampler == base.sampler else {}
    if fps is not None:
        sp["fps"] = fps
    if frames is not None:
        sp["max_frames" if sampler == "fps" else "n"] = frames
    sp.update(args["sampler"])
    changes: dict[str, Any] = {"sampler": sampler, "sampler_params": sp}
    if pixels is not None:
        changes["max_pixels"] = pixels
    for comp in ("pooling", "position"):
        name = names[comp] or getattr(base, comp)
        params = dict(getattr(base, f"{comp}_params")) if name == getattr(base, comp) else {}
        params.update(args[comp])
        changes.update({comp: name, f"{comp}_params": params})
    try:
        return base.replace(**changes)
    except VlmctxError as exc:
        raise bad_request(str(exc), "sampler") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _params(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise bad_request(f'{key} must be an object of parameters, e.g. {{"n": 32}}', key)
    return dict(value)


def _subtitles(body: dict[str, Any]) -> dict[str, Any] | None:
    url, placement, tokens = (body.get(k) for k in ("subtitles", "subtitles_placement",
                                                    "subtitle_tokens"))  # fmt: skip
    if url is None:
        if placement is not None or tokens is not None:
            raise bad_request("subtitles_placement and subtitle_tokens need subtitles", "subtitles")
        return None
    if placement is not None and placement not in PLACEMENTS:
        raise bad_request(f"subtitles_placement must be one of {', '.join(PLACEMENTS)}",
                          "subtitles_placement")  # fmt: skip
    if tokens is not None and (not _is_int(tokens) or tokens < 1):
        raise bad_request("subtitle_tokens must be a whole number of at least 1", "subtitle_tokens")
    return {"url": url, "placement": placement or "auto", "tokens": tokens}
