"""The family's prompt, cut into the pieces a stream needs: prefix, one piece per frame chunk, and
the question's lead and tail; plus the token ids and position ids of each piece.

A one-shot question is ``prefix + video + question + tail`` rendered by the chat template. A
stream renders the same template once with a marker question, with and without the video, and
cuts it: ``prefix`` (system prompt and the user turn's opening; the session's attention sinks),
``piece`` (the video placeholder markup, repeated once per pushed chunk), ``lead`` (what the
template writes between the video and the question) and ``tail`` (end of turn and the generation
prompt). Every chunk goes through the family's real processor (``adapter.prompt.video_kwargs``), so its
placeholders expand to the family's visual tokens exactly as in a one-shot call.

Positions are the model's own rule (``vlmctx.position.base_position_ids`` over the adapter's
``layouts``, transformers' ``get_rope_index`` for M-RoPE) computed for each piece alone and shifted
by the id the next text token of the whole stream would get, so the concatenated ids equal those
of the full sequence (``tests/streaming/test_exact.py`` checks it against ``get_rope_index``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.contract import Adapter, Loaded
from vlmctx.video.types import Frames

_MARK = "\u2063QUESTION\u2063"  # invisible separator around a word no template writes


@dataclass(frozen=True)
class PromptPieces:
    """The chat template cut around the video and the question (see module docstring)."""

    prefix: str
    piece: str
    lead: str
    tail: str


@dataclass
class Piece:
    """Model inputs of one piece of the stream and where its tokens sit.

    ``inputs``: the processor outputs (``input_ids`` (1, n) and the visual tensors);
    ``positions``: (3, 1, n) for M-RoPE or (1, n), int64, already shifted;
    ``next_text``: the id the next text token takes; ``top``: the largest id in the piece.
    """

    inputs: Any
    positions: torch.Tensor
    next_text: int
    top: int

    @property
    def n(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


def prompt_pieces(loaded: Loaded) -> PromptPieces:
    """Cut the family's chat template into :class:`PromptPieces`; refuse templates that do not
    put the video before the question in one user turn."""
    proc = loaded.processor
    video = [{"type": "video"}, {"type": "text", "text": _MARK}]

    def render(content: list[dict[str, Any]]) -> str:
        msgs = [{"role": "user", "content": content}]
        return proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    with_video, without = render(video), render(video[1:])
    if with_video.count(_MARK) != 1 or without.count(_MARK) != 1:
        raise UnsupportedModelError("the chat template does not write the question once")
    head_v, tail = with_video.split(_MARK)
    head_t, tail_t = without.split(_MARK)
    common = 0
    while common < min(len(head_v), len(head_t)) and head_v[common] == head_t[common]:
        common += 1
    prefix, lead = head_t[:common], head_t[common:]
    middle = head_v[common:]
    if tail != tail_t or not middle.endswith(lead) or not middle[: len(middle) - len(lead)]:
        raise UnsupportedModelError(
            f"{loaded.adapter.family}: cannot cut its chat template into prefix / video / "
            "question pieces, so frames cannot be appended chunk by chunk"
        )
    return PromptPieces(prefix, middle[: len(middle) - len(lead)], lead, tail)


def chunk_text(adapter: Adapter, pieces: PromptPieces, frames: Frames) -> str:
    """A chunk's text: its timestamps (families that read time from the prompt) then the
    video placeholder markup. Time-aligned families (``time_prefix`` False) get the markup only;
    their processors place the frames in time through positions."""
    if not adapter.settings.time_prefix:
        return pieces.piece
    stamps = ",".join(f"{t:.2f}s" for t in frames.pts_s)
    return f"Frames at {stamps}: {pieces.piece}"


def chunk_inputs(loaded: Loaded, text: str, frames: Frames) -> Any:
    """Processor outputs for one chunk: ``text`` with its placeholder expanded for ``frames``."""
    proc = loaded.processor
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
    kwargs["videos"] = [np.ascontiguousarray(frames.data)]
    kwargs.update(loaded.adapter.prompt.video_kwargs(frames))
    # our frames are always (t, h, w, 3); without this, processors guess the channel axis and
    # take a 3-pixel-high frame for channels-first
    kwargs.setdefault("input_data_format", "channels_last")
    return proc(**kwargs)


def text_inputs(loaded: Loaded, text: str) -> Any:
    """Processor outputs for a text-only piece (prefix, question)."""
    return loaded.processor(text=[text], return_tensors="pt")


def place(loaded: Loaded, inputs: Any, next_text: int) -> Piece:
    """Position ids of a piece that starts where the stream's next text token would:
    the family's layout of the piece plus one text token (whose id is where the stream goes on),
    through the model's own id rule, shifted by ``next_text``."""
    from vlmctx.position import TokenLayout, base_position_ids

    adapter = loaded.adapter
    n = int(inputs["input_ids"].shape[1])
    if adapter.tokens.count_visual(loaded, inputs["input_ids"]) == 0:
        layout = TokenLayout.text_only(n + 1)
    else:
        (layout,) = adapter.positions.layouts(loaded, inputs, None)
        types = torch.cat([layout.token_type, torch.zeros(1, dtype=torch.int64)])  # (n + 1,)
        layout = TokenLayout(types, layout.runs)
    ids, _ = base_position_ids(layout, mrope=adapter.positions.mrope)  # (3, n + 1) or (n + 1,)
    if not torch.equal(ids, ids.round()):
        raise UnsupportedModelError("fractional position ids cannot be streamed")
    ids = ids.to(torch.int64) + next_text
    if adapter.positions.mrope:
        positions = ids[:, None, :n]  # (3, 1, n)
        after, top = int(ids[0, n]), int(ids[:, :n].max())
    else:
        positions = ids[None, :n]  # (1, n)
        after, top = int(ids[n]), int(ids[:n].max())
    return Piece(inputs, positions, after, top)
