"""Each family's tiny model answers end to end through VideoLM and the real HF processors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vlmctx.models.cards
from tests.conftest import FAMILIES
from vlmctx.config import ContextConfig
from vlmctx.engine import Answer, VideoLM
from vlmctx.errors import ConfigError, ModelLoadError, UnsupportedModelError
from vlmctx.models import ADAPTERS, family_of, tiny_names, tiny_path

CONFIG = ContextConfig(sampler="uniform", sampler_params={"n": 6})


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request: pytest.FixtureRequest) -> VideoLM:
    return VideoLM.load(f"tiny-{request.param}", CONFIG)


@pytest.fixture(scope="module")
def sample() -> str:
    from vlmctx.runtime.assets import sample_video

    return str(sample_video())


def _expected_visual_tokens(lm: VideoLM, n_frames: int, h: int, w: int) -> int:
    """Visual tokens per family, computed from the processor's own sizes (not the model)."""
    proc = lm.loaded.processor
    fam = lm.adapter.family
    if fam in ("qwen2_vl", "qwen2_5_vl"):
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        vp = proc.video_processor
        rh, rw = smart_resize(
            h, w, factor=28, min_pixels=vp.size["shortest_edge"], max_pixels=vp.size["longest_edge"]
        )
        return (n_frames + n_frames % 2) // 2 * (rh // 28) * (rw // 28)
    if fam == "llava_onevision":
        side = proc.video_processor.size["height"] // 14
        pooled = -(-side // 2)
        return n_frames * pooled * pooled + 1  # one newline embedding per video
    if fam == "internvl":
        return n_frames * proc.image_seq_length
    if fam in ("qwen3_vl", "qwen3_5"):  # patches per the video processor's own resize rule
        vp = proc.video_processor
        kw = {"cap_pixels_per_frame": vp.cap_pixels_per_frame}
        return vp.get_num_of_video_patches(n_frames, h, w, kw) // vp.merge_size**2
    raise AssertionError(fam)


def test_answers_with_frames_timestamps_and_token_counts(lm: VideoLM, sample: str) -> None:
    ans = lm.ask(sample, "What colour is the ball?", max_new_tokens=4)
    assert isinstance(ans, Answer)
    assert ans.new_tokens >= 1
    idx = [i for i, _ in ans.frames]
    pts = [t for _, t in ans.frames]
    assert len(idx) == 6 and idx == sorted(idx)
    # the sample is 30 fps with PTS starting at 0: timestamps are the frames' presentation times
    assert pts == pytest.approx([i / 30 for i in idx], abs=1e-3)
    frames = lm.frames(sample)
    h, w = frames.data.shape[1:3]
    assert ans.visual_tokens == _expected_visual_tokens(lm, 6, h, w)
    assert ans.total_tokens > ans.visual_tokens
    assert set(ans.timings) == {"decode", "preprocess", "encode", "prefill", "generate"}
    assert ans.timings["encode"] > 0
    assert ans.config == CONFIG.to_dict()
    json.dumps(ans.to_dict())


def test_follow_up_reuses_decoded_frames_and_stream_matches(lm: VideoLM, sample: str) -> None:
    first = lm.ask(sample, "What colour is the ball?", max_new_tokens=3)
    frames = lm.frames(sample)
    history = [("What colour is the ball?", first.text)]
    again = lm.ask(sample, "And the square?", history=history, max_new_tokens=3)
    assert lm.frames(sample) is frames  # not decoded again
    assert again.timings["decode"] < 0.05
    assert again.total_tokens > first.total_tokens  # the history is in the prompt
    stream = lm.ask(sample, "And the square?", history=history, max_new_tokens=3, stream=True)
    pieces = list(stream)
    assert stream.answer is not None
    assert "".join(pieces).strip() == stream.answer.text == again.text


def test_timestamps_reach_the_model(lm: VideoLM, sample: str) -> None:
    frames = lm.frames(sample)
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "When?", frames)
    text = lm.loaded.processor.tokenizer.decode(inputs["input_ids"][0])
    if lm.adapter.family == "qwen2_5_vl":
        # time-aligned M-RoPE: seconds per temporal patch of 2 frames from the sampling rate
        assert "second_per_grid_ts" in inputs
        assert float(inputs["second_per_grid_ts"][0]) == pytest.approx(2 / frames.sample_fps)
    elif lm.adapter.family in ("qwen3_vl", "qwen3_5"):
        # the processor's marker before the last frame pair: the mean of its two true PTS
        assert f"<{frames.pts_s[-2:].mean():.1f} seconds>" in text
    else:
        assert f"{frames.pts_s[-1]:.2f}s" in text


def test_unknown_and_unloadable_models() -> None:
    with pytest.raises(UnsupportedModelError, match="tiny-qwen2_vl"):
        VideoLM.load("tiny-nope")
    with pytest.raises(ModelLoadError, match="tiny-"):
        VideoLM.load("Qwen/Qwen2-VL-2B-Instruct")  # HF_HUB_OFFLINE=1 in tests


def test_unsupported_family_folder(tmp_path: Path) -> None:
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="gpt2"):
        family_of(str(tmp_path))


def test_local_folder_loads_like_a_hub_checkpoint() -> None:
    path = tiny_path("tiny-qwen2_5_vl")
    assert family_of(str(path)) == "qwen2_5_vl"
    lm = VideoLM.load(str(path), CONFIG)
    assert lm.adapter.family == "qwen2_5_vl"


def test_every_family_is_complete() -> None:
    """A family is one adapter module, one card file, one registration: the registry's name is
    the adapter's family, and the family has a card file, a tiny model and a real default."""
    cards_dir = Path(vlmctx.models.cards.__file__).parent
    for fam in ADAPTERS.names():
        adapter = ADAPTERS.create(fam)
        assert adapter.family == fam
        assert (cards_dir / f"{fam}.json").is_file()
        assert f"tiny-{fam}" in tiny_names()
        assert adapter.default_checkpoint  # a real checkpoint stays the default


def test_bad_question_and_budget_args(lm: VideoLM, sample: str) -> None:
    with pytest.raises(ConfigError):
        lm.ask(sample, "   ")
    with pytest.raises(ConfigError):
        lm.ask(sample, "q", max_new_tokens=0)
