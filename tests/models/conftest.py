"""Shared fixtures for model-application tests: a tiny model of each family, its inputs on the
sample video, and the unpatched logits."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAMILIES
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM


def load_setup(family: str, frames: int):
    from vlmctx.runtime.assets import sample_video

    lm = VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": frames}))
    inputs = lm.adapter.prompt.build_inputs(
        lm.loaded, "What colour is the ball?", lm.frames(sample_video())
    )
    with torch.inference_mode():
        ref = lm.loaded.model(**inputs).logits
    return lm, inputs, ref


@pytest.fixture(scope="module", params=FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return request.param
