"""Long-video MCQ parsing/aggregation and the generated V-NIAH set."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from vlmctx.errors import DataFormatError
from vlmctx.video.synthetic.writer import write_h264
from vlmctx_eval.tasks.common.choices import answer_letter, normalize_options, parse_letter
from vlmctx_eval.tasks.longvideo_mcq import LongVideoMCQ
from vlmctx_eval.tasks.vniah import VNIAH
from vlmctx_eval.tasks.vniah.generate import haystack_frame

OPTS = ["a red car", "a blue bus", "a dog", "nothing"]


@pytest.mark.parametrize(
    "reply,letter",
    [("B", "B"), ("(B)", "B"), ("B. a blue bus", "B"), ("The answer is C.", "C"),
     ("Answer: b", "B"), ("answer: (D)", "D"), ("I think it is a dog.", "C"), ("A dog", "C"),
     ("A", "A"), ("C) a dog", "C"), ("The best answer is: D", "D"), ("I choose (C).", "C"),
     ("It shows a red car and a blue bus", None), ("I am not sure", None), ("", None)],
)  # fmt: skip
def test_parse_letter(reply, letter):
    assert parse_letter(reply, OPTS) == letter


def test_options_and_gold_forms():
    assert normalize_options(["A. cat", "B. dog"]) == ["cat", "dog"]
    assert normalize_options({"B": "dog", "A": "cat"}) == ["cat", "dog"]
    assert answer_letter(1, ["cat", "dog"]) == "B"
    assert answer_letter("B. dog", ["cat", "dog"]) == "B"
    assert answer_letter("Dog", ["cat", "dog"]) == "B"
    with pytest.raises(DataFormatError):
        answer_letter("E", ["cat", "dog"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("mcq")
    write_h264(d / "v.mp4", [haystack_frame(t, 32, 1) for t in range(4)], 32, 32, 2.0)
    return d


def test_mcq_task_buckets_frames_and_bad_records(clip):
    recs = [
        {"id": "q1", "video": "v.mp4", "question": "What?", "options": OPTS, "answer": "B",
         "duration": 60},
        {"question_id": "q2", "video_path": "v.mp4", "question": "Who?",
         "candidates": ["A. x", "B. y"], "correct_choice": 0, "duration": 2000},
        {"id": "q3", "video": "missing.mp4", "question": "?", "options": OPTS, "answer": "A"},
        {"id": "q4", "video": "v.mp4", "question": "?", "options": OPTS, "answer": "Z"},
    ]  # fmt: skip
    f = clip / "mcq.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs) + "not json\n")
    task = LongVideoMCQ(str(f))
    loaded = task.load()
    assert [s.id for s in loaded.samples] == ["q1", "q2"] and len(loaded.errors) == 3
    assert loaded.samples[0].question.endswith("D. nothing\nThe best answer is:")
    preds = [{"prediction": "Answer: B", "frames": [[0, 0.0]] * 8},
             {"prediction": "no idea", "frames": [[0, 0.0]] * 16}]  # fmt: skip
    agg = task.aggregate(loaded.samples, task.score(loaded.samples, preds))
    assert agg["scores"]["acc"] == 50.0 and agg["scores"]["unparsed_pct"] == 50.0
    assert agg["breakdowns"]["by_bucket"]["acc"] == {"long": 0.0, "short": 100.0}
    assert agg["breakdowns"]["by_frames"]["acc"] == {"8": 100.0, "16": 0.0}


def test_vniah_set_has_the_needle_where_the_index_says(tmp_path):
    task = VNIAH(str(tmp_path), frames="4,6", depths="0,1", size=64)
    loaded = task.load()
    assert len(loaded.samples) == 4 and not loaded.errors
    for s in loaded.samples:
        with av.open(s.video) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == s.meta["frames"]
        white = [i for i, f in enumerate(frames) if np.mean(f) > 200]  # the card is white
        assert white == [s.meta["needle_index"]]
    first = loaded.samples[0]
    preds = [{"prediction": f"Answer: {first.target}", "frames": [[0, 0.0], [1, 1.0]]}]
    preds += [{"prediction": "The code is 0000"}] * 3
    scores = task.score(loaded.samples, preds)
    assert scores[0] == {"exact_match": 1.0, "contains": 1.0, "needle_seen": 1.0}
    agg = task.aggregate(loaded.samples, scores)
    assert agg["scores"]["exact_match"] == 25.0
    assert agg["breakdowns"]["grid"]["4"] == {"0.00": 100.0, "1.00": 0.0}
    # a second load reuses the generated set
    assert [s.target for s in VNIAH(str(tmp_path)).load().samples] == [
        s.target for s in loaded.samples
    ]
