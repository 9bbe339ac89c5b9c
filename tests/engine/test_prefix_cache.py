"""The prefix cache (issue 28) against the uncached call, on the tiny model of every family
through the real processors and HF classes.

Exactness: with the cache, greedy token ids equal the uncached call's and the first generated
token's logits agree within :data:`LOGIT_TOL` (measured on these models: at most 2.4e-7 in
absolute value, fp32 on CPU; the tolerance leaves 40x room for other BLAS builds). The suffix's
keys and values (hence its positions: rotary positions are baked into the keys) equal a one-pass
prefill's. One case per family runs by default; the family x pooling x scheme x subtitles matrix
is ``slow``.
"""

from __future__ import annotations

import functools
import threading

import pytest
import torch

from tests.conftest import FAMILIES
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.engine.prefix_cache import PrefixCache, generate_cached, prefix_length
from vlmctx.models.positioning import applied
from vlmctx.position import POSITIONS
from vlmctx.video.subtitles import Cue, Subtitles

LOGIT_TOL = 1e-5
SCHEME_PARAMS = {"vcwe": {"visual_window": 8}, "v2pe": {"delta": 0.25}, "mrope_pp": {"factor": 4.0}}
SCHEMES = ("default", "vcwe", "v2pe", "mrope_pp")
QUESTIONS = ("What colour is the ball?", "Where does it go next?")
HISTORY = (("What colour is the ball?", "Red."),)
CUES = (Cue(0.0, 3.0, "a ball rolls in"), Cue(5.0, 9.0, "it bounces twice"))


@functools.cache
def _model(family: str) -> VideoLM:
    return VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": 4}))


def _pair(family: str, pooling: str = "none", position: str = "default") -> tuple[VideoLM, VideoLM]:
    """The same weights with the cache on (a fresh cache) and off."""
    base = _model(family)
    cfg = ContextConfig(
        sampler_params={"n": 4},
        pooling=pooling,
        position=position,
        position_params=SCHEME_PARAMS.get(position, {}),
    )
    on = VideoLM(base.loaded, cfg, base.model_id, base.device, prefix_cache=PrefixCache())
    off = VideoLM(base.loaded, cfg, base.model_id, base.device, prefix_cache=0)
    on._frames_cache = off._frames_cache = base._frames_cache
    return on, off


def _run(lm: VideoLM, question: str, **kw):
    from vlmctx.runtime.assets import sample_video

    call = lm.prepare(sample_video(), question, max_new_tokens=6, **kw)
    call.record_logits = True
    answer = call.answer()
    return call.output_ids, call.first_logits, answer


def _check(on: VideoLM, off: VideoLM, question: str, expect: str, **kw) -> float:
    ids_off, logits_off, a_off = _run(off, question, **kw)
    ids_on, logits_on, a_on = _run(on, question, **kw)
    assert a_off.extra["prefix_cache"] == "off"
    assert a_on.extra["prefix_cache"] == expect, a_on.extra
    assert torch.equal(ids_on, ids_off)
    assert a_on.text == a_off.text
    diff = float((logits_on - logits_off).abs().max())
    assert diff <= LOGIT_TOL
    n, p = a_on.total_tokens, a_on.extra["prefix_tokens"]
    assert 0 < p < n
    assert a_on.extra["prefill_tokens"] == (n - p if expect == "hit" else n)
    assert a_off.extra["prefill_tokens"] == n
    return diff


def _cases(family: str, pooling: str, position: str, subtitles: str | None) -> None:
    on, off = _pair(family, pooling, position)
    kw = {}
    if subtitles is not None:
        kw = {"subtitles": Subtitles(CUES), "subtitles_placement": subtitles}
    _check(on, off, QUESTIONS[0], "miss", **kw)
    _check(on, off, QUESTIONS[1], "hit", **kw)
    # multi-turn: the video rides with the first turn; the history is part of the suffix
    history_hit = "hit" if subtitles != "before" else "miss"  # "before" lines follow the history
    _check(on, off, "And after that?", history_hit, history=HISTORY, **kw)


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_answers_equal_uncached_one_per_family(family: str) -> None:
    _cases(family, "none", "default", None)


def _applies(family: str, position: str) -> bool:
    return _model(family).adapter.positions.mrope or not POSITIONS.get(position).requires_mrope


def _placements(family: str, pooling: str) -> list[str | None]:
    interleaves = _model(family).adapter.subtitles.interleaves and pooling == "none"
    return [None, "before"] + (["interleaved"] if interleaves else [])


@pytest.mark.slow
@pytest.mark.parametrize("subtitles", [None, "before", "interleaved"])
@pytest.mark.parametrize("position", SCHEMES)
@pytest.mark.parametrize("pooling", ["none", "progressive"])
@pytest.mark.parametrize("family", FAMILIES)
def test_cached_answers_equal_uncached_matrix(family, pooling, position, subtitles) -> None:
    if not _applies(family, position) or subtitles not in _placements(family, pooling):
        pytest.skip(f"{position}/{subtitles} does not apply to {family} with {pooling} pooling")
    _cases(family, pooling, position, subtitles)


@pytest.mark.parametrize("position", ["default", "v2pe"])
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "internvl"])
def test_suffix_keys_and_values_equal_a_one_pass_prefill(family: str, position: str) -> None:
    """Keys carry their rotary positions: equal suffix keys mean equal positions (M-RoPE's text
    continuing after the video's largest position, Qwen3's time markers, V2PE's delta steps)."""
    from vlmctx.runtime.assets import sample_video

    on, _ = _pair(family, "none", position)
    loaded = on.loaded
    gen = {"max_new_tokens": 1, "do_sample": False, "return_dict_in_generate": True}
    for question in QUESTIONS:  # a miss, then a hit
        call = on.prepare(sample_video(), question)
        inputs = call.inputs
        with torch.inference_mode(), applied(loaded, inputs, on.components.scheme) as extra:
            extra.pop("_position_info", None)
            kwargs = {**inputs, **extra}
            one = loaded.model.generate(**kwargs, **gen).cache
            pos = loaded.adapter.positions
            rotary = getattr(pos.language_model(loaded.model), pos.rotary_attr)
            out, outcome = generate_cached(
                loaded, on.prefix_cache, call.prefix, kwargs, gen, rotary, on.device
            )
        p = prefix_length(loaded, inputs["input_ids"], call.prefix.shared_tail)
        assert outcome.prefix_tokens == p
        for a, b in zip(one.layers, out.cache.layers, strict=True):
            assert a.keys.shape == b.keys.shape
            torch.testing.assert_close(b.keys[..., p:, :], a.keys[..., p:, :], atol=1e-5, rtol=0)
            torch.testing.assert_close(
                b.values[..., p:, :], a.values[..., p:, :], atol=1e-5, rtol=0
            )
    assert on.prefix_cache.stats.hits == 1


def test_key_separates_videos_configs_and_size_bounds() -> None:
    from vlmctx.runtime.assets import sample_video

    on, _ = _pair("qwen2_vl")
    video = sample_video()
    assert on.ask(video, QUESTIONS[0], max_new_tokens=2).extra["prefix_cache"] == "miss"
    other = on.with_config(ContextConfig(sampler_params={"n": 6}))  # other frames: other key
    assert other.prefix_cache is on.prefix_cache
    assert other.ask(video, QUESTIONS[1], max_new_tokens=2).extra["prefix_cache"] == "miss"
    assert on.ask(video, QUESTIONS[1], max_new_tokens=2).extra["prefix_cache"] == "hit"
    frames = on.frames(video)  # handed-in frames are keyed by their pixels
    assert on.ask(frames, QUESTIONS[1], max_new_tokens=2).extra["prefix_cache"] == "miss"
    assert on.ask(frames, QUESTIONS[0], max_new_tokens=2).extra["prefix_cache"] == "hit"
    # LRU by bytes: room for one entry only
    one = max(e.nbytes for e in on.prefix_cache._items.values())
    on.prefix_cache.resize(one)
    assert len(on.prefix_cache) == 1 and on.prefix_cache.stats.evictions == 2
    assert on.ask(video, QUESTIONS[0], max_new_tokens=2).extra["prefix_cache"] == "miss"
    assert len(on.prefix_cache) == 1 and on.prefix_cache.stats.evictions == 3
    on.prefix_cache.resize(1)  # too small for any entry: answered, nothing kept
    assert on.ask(video, QUESTIONS[0], max_new_tokens=2).extra["prefix_cache"] == "miss"
    assert len(on.prefix_cache) == 0 and on.prefix_cache.stats.too_large == 1


def test_threads_on_one_video_answer_as_sequential_calls_and_streams_cancel() -> None:
    from vlmctx.runtime.assets import sample_video

    on, off = _pair("qwen2_5_vl")
    video = sample_video()
    questions = [*QUESTIONS, "Is it raining?", "How many balls?"]
    sequential = [off.ask(video, q, max_new_tokens=5).text for q in questions]
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        results[i] = on.ask(video, questions[i], max_new_tokens=5).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(questions))] == sequential
    assert on.prefix_cache.stats.hits == len(questions) - 1
    stream = on.ask(video, QUESTIONS[0], max_new_tokens=5, stream=True)
    assert "".join(stream) == sequential[0] and stream.answer.extra["prefix_cache"] == "hit"
    with on.ask(video, QUESTIONS[1], max_new_tokens=64, stream=True) as stream:
        next(iter(stream), None)  # one piece, then cancel
    assert on.ask(video, QUESTIONS[1], max_new_tokens=5).text == sequential[1]


def test_prefix_cache_zero_is_off() -> None:
    from vlmctx.runtime.assets import sample_video

    _, off = _pair("llava_onevision")
    answer = off.ask(sample_video(), QUESTIONS[0], max_new_tokens=2)
    assert answer.extra["prefix_cache"] == "off" and answer.extra["prefix_tokens"] == 0


def test_cli_prefix_cache_flag(capsys) -> None:
    import json

    from vlmctx.cli import main

    argv = ["ask", "sample", "What colour?", "--model", "tiny-qwen2_vl", "--frames", "2"]
    assert main([*argv, "--json", "--max-new-tokens", "2", "--prefix-cache", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["extra"]["prefix_cache"] == "off"
    assert main([*argv, "--json", "--max-new-tokens", "2", "--prefix-cache", "64MiB"]) == 0
    assert json.loads(capsys.readouterr().out)["extra"]["prefix_cache"] == "miss"
    assert main([*argv, "--prefix-cache", "lots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prefix cache size" in err[0]
