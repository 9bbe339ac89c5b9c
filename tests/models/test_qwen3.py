"""Qwen3-VL and Qwen3.5 specifics on their tiny models (arXiv 2511.21631): time markers from true
PTS, the interleaved rotary against transformers' own, DeepStack through the pooled path, and
position schemes acting on Qwen3.5's full-attention layers only."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from tests.models.conftest import load_setup
from vlmctx.models.pooled import pooled_inputs
from vlmctx.models.positioning import applied
from vlmctx.pooling import POOLERS
from vlmctx.position import SchemeRotaryEmbedding

MARKER = re.compile(r"<(\d+\.\d) seconds>")


@pytest.fixture(scope="module", params=["qwen3_vl", "qwen3_5"])
def setup(request: pytest.FixtureRequest):
    return load_setup(request.param, 8)


def _markers(lm, inputs) -> list[str]:
    return MARKER.findall(lm.loaded.processor.tokenizer.decode(inputs["input_ids"][0]))


def test_markers_of_a_constant_rate_clip_equal_the_processors_from_correct_metadata(setup):
    """The sample is 30 fps: the processor given the true indices and fps writes the same
    prompt, token for token, as the adapter's true-PTS metadata."""
    from transformers.video_utils import VideoMetadata

    from vlmctx.runtime.assets import sample_video

    lm, inputs, _ = setup
    frames = lm.frames(sample_video())
    assert frames.info.fps == pytest.approx(30.0)
    meta = VideoMetadata(
        total_num_frames=int(frames.info.num_frames),
        fps=float(frames.info.fps),
        width=int(frames.data.shape[2]),
        height=int(frames.data.shape[1]),
        frames_indices=[int(i) for i in frames.indices],
    )
    proc = lm.loaded.processor
    text = proc.apply_chat_template(
        lm.adapter.prompt.messages("What colour is the ball?", frames), add_generation_prompt=True
    )
    ref = proc(
        text=[text],
        videos=[np.ascontiguousarray(frames.data)],
        video_metadata=[meta],
        do_sample_frames=False,
        return_tensors="pt",
    )
    assert torch.equal(inputs["input_ids"], ref["input_ids"])
    pairs = frames.indices.reshape(-1, 2) / frames.info.fps
    assert _markers(lm, inputs) == [f"{t:.1f}" for t in pairs.mean(1)]
    assert len(_markers(lm, inputs)) == int(inputs["video_grid_thw"][0, 0]) == 4


def test_a_variable_frame_rate_selection_gets_its_true_times(setup):
    """PTS that no (index, fps) pair describes: each marker is the mean PTS of its pair; an odd
    frame count repeats the last frame, as the processor pads the frames."""
    from vlmctx.runtime.assets import sample_video

    lm, _, _ = setup
    frames = lm.frames(sample_video())
    pts = np.array([0.0, 0.04, 0.5, 1.3, 1.31, 4.0, 9.26])
    vfr = dataclasses.replace(frames, data=frames.data[:7], indices=frames.indices[:7], pts_s=pts)
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "When?", vfr)
    padded = np.append(pts, pts[-1]).reshape(-1, 2)
    assert _markers(lm, inputs) == [f"{t:.1f}" for t in padded.mean(1)]
    assert _markers(lm, inputs) == ["0.0", "0.9", "2.7", "9.3"]


def test_planned_rotary_equals_transformers_interleaved_rotary(setup):
    """Default tables: bit-identical cos/sin to Qwen3VLTextRotaryEmbedding /
    Qwen3_5TextRotaryEmbedding (interleaved sections; Qwen3.5's partial rotary width)."""
    lm, _, _ = setup
    spec = lm.adapter.positions.rope_spec(lm.loaded)
    assert spec.mrope_interleaved
    original = lm.adapter.positions.language_model(lm.loaded.model).rotary_emb
    planned = SchemeRotaryEmbedding.from_spec(spec)
    pos = torch.randint(0, 5000, (3, 2, 17))
    x = torch.zeros(1, dtype=torch.bfloat16)
    for got, ref in zip(planned(x, pos), original(x, pos), strict=True):
        assert got.shape == ref.shape and torch.equal(got, ref)


def test_deepstack_levels_are_pooled_and_reach_the_language_model(setup):
    lm, inputs, ref = setup
    model = lm.loaded.model
    seen: dict = {}

    def grab(_module, _args, kwargs):
        seen["mask"] = kwargs.get("visual_pos_masks")
        seen["levels"] = kwargs.get("deepstack_visual_embeds")

    lm_module = lm.adapter.positions.language_model(model)
    handle = lm_module.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.inference_mode():
            feats = lm.adapter.pooled.visual_features(lm.loaded, inputs)
            pooled = pooled_inputs(lm.loaded, inputs, POOLERS.create("progressive"))
            kw = {k: v for k, v in pooled.kwargs.items() if k != "input_ids"}
            out = model(**kw).logits
    finally:
        handle.remove()
    if lm.adapter.family == "qwen3_5":  # no DeepStack in Qwen3.5
        assert feats.levels == () and "mm_encoder_outputs" not in kw
        return
    n_levels = len(model.config.vision_config.deepstack_visual_indexes)
    assert len(feats.levels) == n_levels == 2
    assert int(seen["mask"].sum()) == pooled.after < pooled.before
    assert [lvl.shape[0] for lvl in seen["levels"]] == [pooled.after] * n_levels
    # the levels matter: zeroing them changes the logits
    encoded = kw["mm_encoder_outputs"]["video"]
    zeroed = dataclasses.replace(
        encoded,
        deepstack_features=[(torch.zeros_like(lvl[0]),) for lvl in encoded.deepstack_features],
    )
    with torch.inference_mode():
        plain = model(**{**kw, "mm_encoder_outputs": {"video": zeroed}}).logits
    assert not torch.allclose(out, plain)


def test_qwen3_5_schemes_act_on_full_attention_layers_only():
    """Gated DeltaNet layers have no positions: a stretched scheme leaves the linear-attention
    layer's output bit-identical and changes the full-attention layer's."""
    lm, inputs, ref = load_setup("qwen3_5", 4)
    kinds = lm.adapter.positions.attention_layer_types(lm.loaded)
    assert kinds == ["linear_attention", "full_attention"]
    layers = lm.adapter.positions.language_model(lm.loaded.model).layers

    def outputs(cfg=None):
        got: list[torch.Tensor] = []
        hooks = [la.register_forward_hook(lambda _m, _a, o: got.append(o.clone())) for la in layers]
        try:
            with torch.inference_mode():
                if cfg is None:
                    lm.loaded.model(**inputs)
                else:
                    with applied(lm.loaded, inputs, cfg) as extra:
                        extra.pop("_position_info")
                        lm.loaded.model(**inputs, **extra)
        finally:
            for h in hooks:
                h.remove()
        return got

    from vlmctx.config import ContextConfig

    base = outputs()
    for name, params in [
        ("yarn", {"factor": 4.0}),
        ("v2pe", {"delta": 0.25}),
        ("mrope_pp", {"factor": 4.0}),
    ]:
        got = outputs(ContextConfig(position=name, position_params=params))
        assert torch.equal(got[0], base[0]), f"{name} changed the linear-attention layer"
        assert not torch.allclose(got[1], base[1]), f"{name} left full attention unchanged"
