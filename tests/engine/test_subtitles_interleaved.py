"""Subtitles interleaved with frames by their true timestamps, on the tiny model of every family
through the real processors: where each block lands, that the video itself is untouched, the HF
multi-video equivalence (Qwen2.5-VL, Qwen3-VL), the token budget, the placement switch and
`vlmctx ask --subtitles` end to end."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import FAMILIES
from vlmctx.cli import main
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM, load_frames, subtitle_placement
from vlmctx.errors import ConfigError, DataFormatError, UnsupportedModelError
from vlmctx.video.subtitles import Cue, Subtitles, place_cues

# Variable frame spacing, so a wrong "index / fps" time would show. Qwen's frame pairs have the
# mean times 0.75, 2.25, 4.125, 6.75 s.
PTS = [0.5, 1.0, 2.0, 2.5, 4.0, 4.25, 6.0, 7.5]
# A: covers 0.5, midpoint 0.45 -> before every frame. B: covers 2.5, midpoint 2.4 -> after the
# frames at 0.5, 1.0, 2.0 (3 frames; 2 pairs). C: covers 7.5, midpoint 7.7 -> after the video.
# D: covers no frame -> left out.
CUES = (
    Cue(0.3, 0.6, "alpha"),
    Cue(2.2, 2.6, "bravo"),
    Cue(3.0, 3.5, "never"),
    Cue(7.4, 8.0, "charlie"),
)
EXPECTED_AFTER = {1: [0, 3, 8], 2: [0, 2, 4]}  # steps before each block, by temporal step


def test_place_cues_follows_longvideobench_midpoint_rule():
    cues = [Cue(0.0, 1.0, "a"), Cue(1.0, 3.0, "b"), Cue(2.5, 3.5, "c"), Cue(9.0, float("inf"), "d")]
    steps = [0.0, 2.0, 3.0, 5.0]
    # midpoints 0.5, 2.0, 3.0 and (9 + 10) / 2 = 9.5: a step at exactly the midpoint comes first
    assert place_cues(cues, steps, duration_s=10.0) == [
        (1, [cues[0]]),
        (2, [cues[1]]),
        (3, [cues[2]]),
        (4, [cues[3]]),
    ]
    merged = place_cues([Cue(0.1, 0.2, "x"), Cue(0.2, 0.4, "y")], steps)
    assert merged == [(1, [Cue(0.1, 0.2, "x"), Cue(0.2, 0.4, "y")])]  # one block between steps
    with pytest.raises(DataFormatError, match="placement must be one of"):
        Subtitles((), placement="between")


@pytest.fixture(scope="module")
def frames():
    from vlmctx.runtime.assets import sample_video

    fr = load_frames(sample_video(), ContextConfig(sampler_params={"n": 8}))
    data = np.ascontiguousarray(fr.data[:, :64, :64])  # small frames: no size-dependent resize
    return dataclasses.replace(fr, data=data, pts_s=np.array(PTS))


@functools.cache
def _load(family: str) -> VideoLM:
    """One tiny model per family for this file (loading is the slow part)."""
    return VideoLM.load(f"tiny-{family}")


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request: pytest.FixtureRequest) -> VideoLM:
    return _load(request.param)


def _find(seq: list[int], sub: list[int]) -> int:
    hits = [i for i in range(len(seq) - len(sub) + 1) if seq[i : i + len(sub)] == sub]
    assert len(hits) == 1, (sub, hits)
    return hits[0]


def test_blocks_sit_between_the_right_frames(lm: VideoLM, frames) -> None:
    loaded, adapter = lm.loaded, lm.adapter
    tok = loaded.processor.tokenizer
    plain = adapter.prompt.build_inputs(loaded, "Q?", frames)
    subs = Subtitles(CUES)
    inputs, notes = lm._inputs("Q?", frames, (), subs, None)
    assert notes["subtitles"]["placement"] == "interleaved"
    assert notes["subtitles"]["cues"] == 3 and notes["subtitles"]["blocks"] == 3
    ids = inputs["input_ids"][0].tolist()
    vis = adapter.tokens.visual_mask(loaded, inputs["input_ids"][0])
    total = int(adapter.tokens.visual_mask(loaded, plain["input_ids"][0]).sum())
    assert int(vis.sum()) == total  # the video's tokens are all there, none added
    step = adapter.subtitles.temporal_step(loaded)
    steps = len(PTS) // step
    per = total // steps  # visual tokens per temporal step (LLaVA-OV: + one newline at the end)
    for name, k in zip(("alpha", "bravo", "charlie"), EXPECTED_AFTER[step], strict=True):
        cue = next(c for c in CUES if c.text == name)
        at = _find(
            ids, tok(f"[{cue.start_s:.1f}s] {name}\n", add_special_tokens=False)["input_ids"]
        )
        assert int(vis[:at].sum()) == (total if k == steps else k * per), name
    assert "never" not in tok.decode(ids)
    for key in ("pixel_values", "pixel_values_videos"):  # frames encoded exactly as without subs
        if key in plain:
            assert torch.equal(inputs[key], plain[key])
    with torch.inference_mode():  # the family's own forward takes the cut video
        out = loaded.model(**inputs).logits
    assert out.shape[1] == len(ids) and torch.isfinite(out).all()


def test_qwen3_parts_keep_true_time_markers(frames) -> None:
    lm = _load("qwen3_vl")
    inputs, _ = lm._inputs("Q?", frames, (), Subtitles(CUES), None)
    text = lm.loaded.processor.tokenizer.decode(inputs["input_ids"][0])
    pairs = [sum(PTS[i : i + 2]) / 2 for i in range(0, 8, 2)]
    markers = [f"<{t:.1f} seconds>" for t in pairs]
    assert [text.index(m) for m in markers] == sorted(text.index(m) for m in markers)
    assert text.index(markers[1]) < text.index("bravo") < text.index(markers[2])
    assert inputs["video_grid_thw"][:, 0].tolist() == [2, 2]  # two videos of two pairs each


def test_no_subtitles_leave_inputs_and_logits_exactly_as_before(lm: VideoLM, frames) -> None:
    loaded = lm.loaded
    plain = lm.adapter.prompt.build_inputs(loaded, "Q?", frames)
    none, notes = lm._inputs("Q?", frames, (), None, None)
    assert notes == {}
    missing = Subtitles((Cue(100.0, 101.0, "later"),))  # no cue meets a frame
    empty, notes = lm._inputs("Q?", frames, (), missing, "interleaved")
    assert notes["subtitles"]["cues"] == 0
    assert none.keys() == plain.keys() == empty.keys()
    for key in plain:
        assert torch.equal(none[key], plain[key]) and torch.equal(empty[key], plain[key]), key
    with torch.inference_mode():
        ref = loaded.model(**plain).logits
        assert torch.equal(loaded.model(**empty).logits, ref)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_two_part_interleave_equals_hf_multi_video(family: str, frames) -> None:
    """The spliced inputs are what the HF processor writes for two videos with text between;
    our positions equal transformers' get_rope_index on them; an identity position scheme gives
    exactly the model's own logits."""
    from vlmctx.models.positioning import applied
    from vlmctx.position import base_position_ids

    lm = _load(family)
    loaded, adapter = lm.loaded, lm.adapter
    subs = Subtitles((CUES[1],))  # bravo: after the first two pairs
    ours, _ = lm._inputs("Q?", frames, (), subs, "interleaved")
    first = dataclasses.replace(
        frames, data=frames.data[:4], indices=frames.indices[:4], pts_s=frames.pts_s[:4]
    )
    second = dataclasses.replace(
        frames, data=frames.data[4:], indices=frames.indices[4:], pts_s=frames.pts_s[4:]
    )
    content = [{"type": "video"}, {"type": "text", "text": "[2.2s] bravo\n"}, {"type": "video"}]
    msgs = [{"role": "user", "content": [*content, {"type": "text", "text": "Q?"}]}]
    proc = loaded.processor
    text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    kw = adapter.prompt.video_kwargs(first)
    kw["video_metadata"] += adapter.prompt.video_kwargs(second)["video_metadata"]
    hf = proc(text=[text], videos=[first.data, second.data], return_tensors="pt", **kw)
    assert ours.keys() == hf.keys()
    for key in hf:
        assert torch.equal(ours[key], hf[key]), key
    model = loaded.model
    ref_pos, _ = model.model.get_rope_index(
        hf["input_ids"], hf["mm_token_type_ids"], None, hf["video_grid_thw"],
        second_per_grid_ts=hf.get("second_per_grid_ts"), attention_mask=hf["attention_mask"],
    )  # fmt: skip
    (layout,) = adapter.positions.layouts(loaded, hf, hf["attention_mask"])
    assert len(layout.runs) >= 2
    pos, _ = base_position_ids(layout, mrope=True)
    assert torch.equal(pos, ref_pos[:, 0].to(pos.dtype))
    identity = ContextConfig(position="v2pe", position_params={"delta": 1.0})
    with torch.inference_mode():
        ref = model(**hf).logits
        with applied(loaded, hf, identity) as extra:
            extra.pop("_position_info", None)
            out = model(**hf, **extra).logits
    assert torch.equal(out, ref)


def test_budget_holds_when_interleaved(frames) -> None:
    lm = _load("llava_onevision")
    count = lambda t: len(lm.loaded.processor.tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    full, notes = lm._inputs("Q?", frames, (), Subtitles(CUES), None)
    capped, capped_notes = lm._inputs("Q?", frames, (), Subtitles(CUES, max_tokens=30), None)
    assert notes["subtitles"]["tokens"] == sum(
        count(f"[{c.start_s:.1f}s] {c.text}") for c in CUES if c.text != "never"
    )
    assert capped_notes["subtitles"]["cues"] == 2  # alpha and charlie, spread over time
    assert 0 < capped_notes["subtitles"]["tokens"] <= 30
    assert capped["input_ids"].shape[1] < full["input_ids"].shape[1]


def test_placement_switch_and_pooling(frames, caplog) -> None:
    lm = _load("qwen2_vl")
    before, notes = lm._inputs("Q?", frames, (), Subtitles(CUES), "before")
    assert notes["subtitles"]["placement"] == "before"
    header = "Subtitles of the video (start time in seconds):\n[0.3s] alpha\n[2.2s] bravo\n"
    assert header + "[7.4s] charlie\n" in lm.loaded.processor.tokenizer.decode(
        before["input_ids"][0]
    )
    pooled = ContextConfig(pooling="uniform", pooling_params={"kernel": 2})
    with pytest.raises(UnsupportedModelError, match="subtitles-placement before"):
        subtitle_placement("interleaved", lm.adapter, pooled)
    with caplog.at_level(logging.WARNING, logger="vlmctx.engine"):
        assert subtitle_placement("auto", lm.adapter, pooled) == "before"
    assert "subtitles go before the question" in caplog.text
    with pytest.raises(ConfigError, match="placement must be one of"):
        lm.ask(frames, "Q?", subtitles_placement="middle")  # refused even without subtitles


def _ask(capsys, *extra: str) -> tuple[int, dict, str]:
    code = main(["ask", "sample", "What is said?", "--model", "tiny-qwen3_vl", "--frames", "4",
                 "--max-new-tokens", "1", "--json", *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else {}), err


def test_ask_subtitles_interleaved_end_to_end(tmp_path: Path, capsys) -> None:
    # the sample is 12 s; 4 uniform frames sit near 0, 3.9, 7.9, 11.9 s: pairs at about 2 and 10 s
    f = tmp_path / "talk.srt"
    f.write_text("1\n00:00:03,500 --> 00:00:04,500\nmiddle words\n\n"
                 "2\n00:00:30,000 --> 00:00:31,000\nnever shown\n", encoding="utf-8")  # fmt: skip
    code, plain, err = _ask(capsys)
    assert code == 0, err
    code, inter, err = _ask(capsys, "--subtitles", str(f))
    assert code == 0, err
    assert inter["extra"]["subtitles"] == {"placement": "interleaved", "blocks": 1, "cues": 1,
                                           "tokens": inter["extra"]["subtitles"]["tokens"]}  # fmt: skip
    lm = _load("qwen3_vl")
    tok = lm.loaded.processor.tokenizer
    # only the text: since transformers 5.25 each frame pair closes itself (no outer wrapper)
    added = len(tok("[3.5s] middle words\n", add_special_tokens=False)["input_ids"])
    assert inter["total_tokens"] - plain["total_tokens"] == added
    assert inter["visual_tokens"] == plain["visual_tokens"]
    code, before, err = _ask(capsys, "--subtitles", str(f), "--subtitles-placement", "before")
    assert code == 0, err
    assert before["extra"]["subtitles"]["placement"] == "before"
    code, _, err = _ask(capsys, "--subtitles-placement", "before")
    assert code != 0 and "needs --subtitles" in err and len(err.strip().splitlines()) == 1
    code, _, err = _ask(capsys, "--subtitles", str(f), "--pooling", "uniform",
                        "--subtitles-placement", "interleaved")  # fmt: skip
    assert code != 0 and "--pooling none" in err and "Traceback" not in err


@pytest.mark.parametrize("family", ["internvl", "qwen2_5_vl"])
def test_position_schemes_plan_over_the_parts(family: str, frames) -> None:
    """V2PE (text +1, visual +delta) over an interleaved prompt: each part is its own visual
    run, and the subtitle text between parts advances by whole steps."""
    from vlmctx.models.positioning import positions_for_inputs
    from vlmctx.position import POSITIONS, TEXT

    lm = _load(family)
    inputs, _ = lm._inputs("Q?", frames, (), Subtitles((CUES[1],)), None)
    (layout,) = lm.adapter.positions.layouts(lm.loaded, inputs, inputs["attention_mask"])
    assert len(layout.runs) == (8 if family == "internvl" else 2)
    (_, batch), _ = positions_for_inputs(lm.loaded, inputs, POSITIONS.create("v2pe", delta=0.5))
    pos = batch.position_ids[0] if batch.position_ids.ndim == 2 else batch.position_ids[0, 0]
    runs = layout.runs
    k = max(range(len(runs) - 1), key=lambda i: runs[i + 1].start - runs[i].end)
    before, after = runs[k], runs[k + 1]  # the widest text between two runs: the subtitle
    gap = list(range(before.end, after.start))
    assert "bravo" in lm.loaded.processor.tokenizer.decode(inputs["input_ids"][0, gap])
    assert all(int(layout.token_type[i]) == TEXT for i in gap)
    steps = torch.diff(pos[gap[0] : gap[-1] + 1])
    assert torch.equal(steps, torch.ones_like(steps))
    vis = pos[before.start : before.end]
    assert not torch.equal(vis, vis.round())  # visual ids step by delta = 0.5
