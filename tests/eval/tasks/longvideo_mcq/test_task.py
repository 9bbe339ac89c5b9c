"""The long-video MCQ task: record forms, duration buckets, frame counts and bad records."""

from __future__ import annotations

import json

import pytest

from vlmctx.video.synthetic.writer import write_h264
from vlmctx_eval.tasks.longvideo_mcq import LongVideoMCQ
from vlmctx_eval.tasks.vniah.generate import haystack_frame

OPTS = ["a red car", "a blue bus", "a dog", "nothing"]


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
