"""The key property: with nothing evicted, a session is the full-context model, exactly.

The session's pieces (prompt opening, chunks, question) are concatenated into one sequence and
run through transformers' own path (``get_rope_index`` for positions, ``generate`` for the
answer). The session must have built the same position ids, the same cached keys/values, and
give the same greedy tokens.
"""

from __future__ import annotations

import pytest
import torch

from tests.streaming.conftest import chunks, load, sample_frames
from vlmctx.streaming import StreamingSession

_BY_TOKEN = ("input_ids", "attention_mask", "mm_token_type_ids")  # concatenated along the sequence


def full_inputs(session: StreamingSession, upto: int | None = None) -> dict[str, torch.Tensor]:
    """The recorded pieces (the first ``upto``) as one processor output."""
    pieces = session.transcript[:upto]
    out = {}
    for key in {k for p in pieces for k in p.inputs}:
        parts = [p.inputs[key] for p in pieces if key in p.inputs]
        out[key] = torch.cat(parts, dim=1 if key in _BY_TOKEN else 0)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "toylab",
        "tiny-qwen2_vl",
        "tiny-llava_onevision",
        pytest.param("tiny-internvl", marks=pytest.mark.slow),
        pytest.param("tiny-qwen2_5_vl", marks=pytest.mark.slow),
    ],
)
def test_session_equals_full_context(name: str) -> None:
    lm = load(name)
    model = lm.loaded.model
    with StreamingSession(lm, record=True) as s:
        for chunk in chunks(sample_frames(6), 2):
            s.push(chunk)
        assert s.stats()["offloaded_blocks"] == 0
        stream = full_inputs(s)
        with torch.no_grad():
            ref_cache = model(**stream, use_cache=True).past_key_values
        for mine, ref in zip(s.store.cache.layers, ref_cache.layers, strict=True):
            torch.testing.assert_close(mine.keys, ref.keys, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(mine.values, ref.values, rtol=1e-4, atol=1e-5)
        answer = s.ask("What colour is the ball?", max_new_tokens=6)
        full = full_inputs(s)
        positions = torch.cat([p.positions for p in s.transcript], dim=-1)
        with torch.no_grad():
            if lm.adapter.positions.mrope:
                ref_pos, _ = model.model.get_rope_index(
                    full["input_ids"],
                    full["mm_token_type_ids"],
                    video_grid_thw=full["video_grid_thw"],
                    second_per_grid_ts=full.get("second_per_grid_ts"),
                    attention_mask=full["attention_mask"],
                )
                assert torch.equal(positions, ref_pos)
            else:
                assert torch.equal(positions[0], torch.arange(full["input_ids"].shape[1]))
            out = model.generate(**full, max_new_tokens=6, do_sample=False)
        assert answer.token_ids == out[0, full["input_ids"].shape[1] :].tolist()
        assert answer.retrieved == []
        assert [t for _, t in answer.frames_used] == sorted(sample_frames(6).pts_s.tolist())


def test_question_leaves_no_trace(toylab) -> None:
    """Asking twice gives the same answer, and the cache is as it was before the question."""
    with toylab.session() as s:
        for chunk in chunks(sample_frames(4), 2):
            s.push(chunk)
        before = [layer.keys.clone() for layer in s.store.cache.layers]
        first = s.ask("What colour is the ball?")
        assert [layer.keys.shape for layer in s.store.cache.layers] == [k.shape for k in before]
        for layer, k in zip(s.store.cache.layers, before, strict=True):
            assert torch.equal(layer.keys, k)
        assert s.ask("What colour is the ball?").token_ids == first.token_ids
        assert first.text == "red"  # the trained toy model reads the sample video right
