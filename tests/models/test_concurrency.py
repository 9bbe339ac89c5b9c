"""One loaded model shared by several threads: calls are serialised, nothing leaks between them,
and a stream whose consumer goes away stops within one token."""

from __future__ import annotations

import gc
import threading

import pytest
import torch

from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import VlmctxError
from vlmctx.models.positioning import applied

BASE = {"sampler_params": {"n": 16}}
# On the trained toylab model these answer differently ('red', 'r', 'irclqure', ...), so a call
# that ran with another call's rotary would give a visibly different answer.
SCHEMES = [
    ContextConfig(**BASE),
    ContextConfig(**BASE, position="pi", position_params={"factor": 16.0}),
    ContextConfig(**BASE, position="pi", position_params={"factor": 3.0}),
    ContextConfig(**BASE, position="yarn", position_params={"factor": 8.0}),
]


@pytest.fixture(scope="module")
def lm() -> VideoLM:
    return VideoLM.load("toylab", ContextConfig(**BASE))


@pytest.fixture(scope="module")
def tiny() -> VideoLM:
    """Random weights: generates up to max_new_tokens, so a stream is still running when closed."""
    return VideoLM.load("tiny-qwen2_vl", ContextConfig(**BASE))


@pytest.fixture(scope="module")
def frames(lm: VideoLM):
    from vlmctx.runtime.assets import sample_video

    return lm.frames(sample_video())


def _ask(lm: VideoLM, cfg: ContextConfig, frames, n: int = 6) -> str:
    ans = lm.with_config(cfg).ask(frames, "What colour is the ball?", max_new_tokens=n)
    return ans.text


def test_interleaved_threads_answer_as_if_sequential(lm: VideoLM, frames) -> None:
    expected = [_ask(lm, cfg, frames) for cfg in SCHEMES]
    assert len(set(expected)) > 1, "the schemes must differ for this test to mean anything"
    rotary = lm.loaded.model.model.language_model.rotary_emb
    results: dict[tuple[int, int], str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(SCHEMES))

    def worker(i: int) -> None:
        try:
            start.wait()
            for round_ in range(3):
                # streaming and non-streaming calls mixed, so swaps overlap with live streams
                if round_ % 2:
                    s = lm.with_config(SCHEMES[i]).ask(
                        frames, "What colour is the ball?", max_new_tokens=6, stream=True
                    )
                    "".join(s)
                    results[i, round_] = s.answer.text
                else:
                    results[i, round_] = _ask(lm, SCHEMES[i], frames)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(SCHEMES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for (i, _), text in results.items():
        assert text == expected[i]
    assert lm.loaded.model.model.language_model.rotary_emb is rotary


def test_closed_stream_stops_within_one_token(tiny: VideoLM, frames) -> None:
    cfg = ContextConfig(**BASE, position="yarn", position_params={"factor": 8.0})
    stream = tiny.with_config(cfg).ask(frames, "Describe it.", max_new_tokens=400, stream=True)
    it = iter(stream)
    next(it)  # generation is running
    seen = stream.tokens_generated
    stream.close()
    assert not stream._thread.is_alive()
    answer = stream.answer
    assert answer is not None and answer.extra.get("cancelled") is True
    assert answer.new_tokens <= seen + 2  # the token in flight, plus one racing the close
    assert answer.new_tokens < 400


def _logits(lm: VideoLM, inputs) -> torch.Tensor:
    with torch.inference_mode(), applied(lm.loaded, inputs, ContextConfig()):
        return lm.loaded.model(**inputs).logits


def test_default_after_an_abandoned_stream_equals_a_fresh_model(tiny: VideoLM, frames) -> None:
    fresh = VideoLM.load("tiny-qwen2_vl", ContextConfig(**BASE))
    inputs = tiny.adapter.prompt.build_inputs(tiny.loaded, "Describe it.", frames)
    reference = _logits(fresh, inputs)
    cfg = ContextConfig(**BASE, position="pi", position_params={"factor": 16.0})
    stream = tiny.with_config(cfg).ask(frames, "Describe it.", max_new_tokens=400, stream=True)
    it = iter(stream)
    next(it)
    thread = stream._thread
    del it, stream  # the client went away without closing
    gc.collect()
    thread.join(30)
    assert not thread.is_alive(), "an abandoned stream must stop generating"
    assert torch.equal(_logits(tiny, inputs), reference)


def test_restore_detects_a_foreign_swap(tiny: VideoLM, frames) -> None:
    inputs = tiny.adapter.prompt.build_inputs(tiny.loaded, "Q?", frames)
    inner = tiny.loaded.model.model.language_model
    original = inner.rotary_emb
    cfg = ContextConfig(**BASE, position="yarn", position_params={"factor": 4.0})
    with pytest.raises(VlmctxError, match="replaced the rotary"), applied(tiny.loaded, inputs, cfg):
        inner.rotary_emb = torch.nn.Identity()  # a writer that ignored the lock
    assert inner.rotary_emb is original  # the original is back all the same


def test_answer_labels_what_its_peak_memory_measures(lm: VideoLM, frames) -> None:
    ans = lm.ask(frames, "Q?", max_new_tokens=2)
    assert ans.peak_memory_scope == ("call" if lm.device.startswith("cuda") else "process")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # another call holding the model for a while
        with lm.loaded.lock:
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    waited = lm.ask(frames, "Q?", max_new_tokens=2)
    t.join(5)
    assert waited.extra["lock_wait_s"] >= 0.4  # the time spent behind the other call
    assert ans.extra["lock_wait_s"] < waited.extra["lock_wait_s"]
