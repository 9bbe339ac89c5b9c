"""VideoLM keeps decoded videos in a small LRU cache shared by its ``with_config`` copies."""

from __future__ import annotations

import pytest

import vlmctx.engine.videolm as engine
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import ConfigError


def test_cache_is_shared_lru_and_keyed_by_sampling(monkeypatch, tmp_path) -> None:
    from vlmctx.runtime.assets import sample_video
    from vlmctx.video.synthetic.clips import write_clip

    other = write_clip(tmp_path / "b.mp4", num_frames=30)
    calls: list[str] = []
    real = engine.load_frames

    def counting(video, config):
        calls.append(str(video))
        return real(video, config)

    monkeypatch.setattr(engine, "load_frames", counting)
    lm = VideoLM.load("tiny-qwen2_vl", ContextConfig(sampler_params={"n": 4}))
    lm.frames_cache_size = 2
    pooled = lm.with_config(lm.config.replace(pooling="uniform", position="v2pe"))
    assert pooled.frames_cache_size == 2
    a = lm.frames(sample_video())
    assert pooled.frames(sample_video()) is a  # same sampling: decoded once for both configs
    lm.frames(other)
    lm.frames(sample_video())  # still cached (most recent two)
    assert len(calls) == 2
    lm.with_config(lm.config.replace(sampler_params={"n": 6})).frames(sample_video())
    assert len(calls) == 3  # other sampling settings: decoded again
    lm.frames(other)  # evicted by the n=6 entry (least recently used)
    assert len(calls) == 4
    with pytest.raises(ConfigError):
        lm.frames_cache_size = 0
