"""Bounded memory: however many chunks are pushed, the device holds at most the budget; older
blocks are offloaded and come back, with their timestamps, when a question retrieves them."""

from __future__ import annotations

import pytest

from tests.streaming.conftest import chunks, sample_frames
from vlmctx.errors import BudgetExceededError


def test_device_memory_stays_under_budget(toylab) -> None:
    stream = chunks(sample_frames(16), 2)  # 8 chunks of 4 tokens each (toylab's small frames)
    with toylab.session(budget=22, retrieve_tokens=8) as s:  # 6 sink tokens, window of 8
        sizes = []
        for chunk in stream:
            s.push(chunk)
            st = s.stats()
            assert st["device_tokens"] <= 22
            assert st["device_kv_bytes"] <= 22 * s.token_bytes
            sizes.append(st["device_kv_bytes"])
        assert sizes[-1] == sizes[len(sizes) // 2]  # flat once the window is full
        st = s.stats()
        assert st["offloaded_blocks"] == 6 and st["resident_blocks"] == 2
        assert st["offloaded_bytes"] == 6 * 4 * s.token_bytes
        answer = s.ask("What colour is the ball?", max_new_tokens=4)
        assert answer.context_tokens <= 22
        assert 0 < len(answer.retrieved) <= 2  # 8 tokens of room: two 4-token blocks
        offloaded = {b.id: b for b in s.store.offloaded_blocks}
        for r in answer.retrieved:
            assert r.frames == [
                (int(i), float(t))
                for i, t in zip(offloaded[r.block].indices, offloaded[r.block].pts_s, strict=True)
            ]
        recent = [t for _, t in answer.recent]
        assert recent == sample_frames(16).pts_s[-4:].tolist()
        assert max(t for r in answer.retrieved for _, t in r.frames) < min(recent)
        tok = toylab.loaded.processor.tokenizer
        question = tok(s.pieces.lead + "What colour is the ball?" + s.pieces.tail)["input_ids"]
        new = len(question) + len(answer.token_ids)  # ride on top of the budget while they run
        assert answer.device_kv_bytes <= (22 + new) * s.token_bytes
        assert s.stats()["device_tokens"] == st["device_tokens"]  # retrieved blocks dropped again


def test_disk_offload_matches_cpu(toylab, tmp_path) -> None:
    stream = chunks(sample_frames(8), 2)
    answers = []
    for kwargs in ({}, {"offload": "disk", "offload_dir": tmp_path}):
        with toylab.session(budget=14, retrieve_tokens=4, **kwargs) as s:
            for chunk in stream:
                s.push(chunk)
            answers.append(s.ask("What colour is the ball?", max_new_tokens=4))
            if kwargs:
                assert len(list(tmp_path.glob("block-*.pt"))) == s.stats()["offloaded_blocks"]
    assert answers[0].token_ids == answers[1].token_ids
    same = [[(r.block, r.frames, r.score) for r in a.retrieved] for a in answers]
    assert same[0] == same[1]
    assert {r.tier for r in answers[0].retrieved} == {"host"}
    assert {r.tier for r in answers[1].retrieved} == {"disk"}
    assert list(tmp_path.glob("block-*.pt")) == []  # close() deletes them


def test_budget_in_bytes_and_too_small(toylab) -> None:
    with toylab.session(budget=30) as by_tokens:
        per_token = by_tokens.token_bytes
    with toylab.session(budget_bytes=30 * per_token) as s:
        assert s.budget == 30
    with pytest.raises(BudgetExceededError, match="sinks"):
        toylab.session(budget=6)
    small = toylab.session(budget=12, retrieve_tokens=4)  # window of 2 < a 4-token chunk
    with small, pytest.raises(BudgetExceededError, match="fewer frames"):
        small.push(chunks(sample_frames(2), 2)[0])


def test_key_summaries_stay_the_offloaded_blocks_in_order(toylab) -> None:
    """The stacked key summaries a question scores are kept up to date as blocks are offloaded
    (capacity grows by doubling), equal to re-stacking every offloaded block, and reset on close."""
    import torch

    with toylab.session(budget=14, retrieve_tokens=4) as s:  # 6 sink tokens, window of 4
        seen = []
        for chunk in chunks(sample_frames(16), 1):  # 16 one-frame chunks
            s.push(chunk)
            blocks = s.store.offloaded_blocks
            if blocks:
                stacked = torch.stack([b.key_summary for b in blocks])
                assert torch.equal(s.store.key_summaries(), stacked)
                seen.append(len(blocks))
        assert seen[-1] > seen[0] >= 1  # offloading went on while the stack was read
        s.close()
        assert s.store._keys is None and s.store._keys_filled == 0
