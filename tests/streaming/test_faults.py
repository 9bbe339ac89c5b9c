"""Fault cases: a refused chunk leaves the session as it was, a closed session says so, configs
a session cannot honour are refused, and a session shares its model safely with other calls."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from tests.streaming.conftest import chunks, sample_frames
from vlmctx.config import ContextConfig
from vlmctx.errors import UnsupportedModelError, VlmctxError
from vlmctx.streaming import ChunkError, SessionClosedError

Q = "What colour is the ball?"


def _bad_chunks(good):
    yield replace(good, data=good.data[..., :2])  # two channels
    yield replace(good, data=good.data.astype(np.float32))  # not uint8
    yield replace(good, pts_s=good.pts_s[::-1].copy())  # time going backwards
    yield replace(good, pts_s=good.pts_s[:1])  # one timestamp for two frames
    yield replace(good, data=np.zeros((2, 1, 400, 3), np.uint8))  # 1:400, the processor refuses


def test_corrupt_chunk_leaves_session_usable(toylab) -> None:
    first, second, third = chunks(sample_frames(6), 2)
    with toylab.session() as clean:
        for c in (first, second, third):
            clean.push(c)
        expected = clean.ask(Q).token_ids
    with toylab.session() as s:
        s.push(first)
        before = s.stats()
        for bad in _bad_chunks(second):
            with pytest.raises(ChunkError):
                s.push(bad)
            assert s.stats() == before
        with pytest.raises(ChunkError, match="follow the last pushed frame"):
            s.push(first)  # a chunk from the past
        s.push(second)
        s.push(third)
        assert s.ask(Q).token_ids == expected


def test_closed_session_refuses(toylab) -> None:
    s = toylab.session()
    s.push(chunks(sample_frames(2), 2)[0])
    s.close()
    assert s.closed and s.stats()["device_tokens"] == 0
    with pytest.raises(SessionClosedError, match="closed"):
        s.push(chunks(sample_frames(4), 2)[1])
    with pytest.raises(SessionClosedError):
        s.ask(Q)
    assert isinstance(SessionClosedError("x"), VlmctxError)


def test_config_a_session_cannot_honour(toylab) -> None:
    with pytest.raises(UnsupportedModelError, match="pooling=none"):
        toylab.with_config(ContextConfig(pooling="progressive")).session()


def test_shares_the_model_with_other_calls(toylab) -> None:
    """A session and one-shot questions on one model from two threads give what they give
    alone: every model run holds ``Loaded.lock``, and the session changes nothing on the model."""
    frames = sample_frames(4)
    alone = toylab.ask(frames, Q).text
    with toylab.session() as s:
        for c in chunks(frames, 2):
            s.push(c)
        session_alone = s.ask(Q).token_ids
    results: dict[str, list] = {"ask": [], "session": []}

    def one_shot() -> None:
        for _ in range(3):
            results["ask"].append(toylab.ask(frames, Q).text)

    def streaming() -> None:
        with toylab.session() as s:
            for c in chunks(frames, 2):
                s.push(c)
                results["session"].append(s.ask(Q).token_ids)

    threads = [threading.Thread(target=one_shot), threading.Thread(target=streaming)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results["ask"] == [alone] * 3
    assert results["session"][-1] == session_alone
