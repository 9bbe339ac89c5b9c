"""LongVideoBench (val) in its release layout: the official answer parser, duration groups, the
subtitle track."""

from __future__ import annotations

import json
from pathlib import Path

from tests.eval.conftest import cli, read_results, touch, write_preds
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks


def test_longvideobench_groups_and_subtitle_track(tmp_path: Path, capsys):
    root = tmp_path / "LVB"
    recs = []
    for i, group in enumerate([15, 60, 600, 3600]):
        touch(root / "videos" / f"v{i}.mp4")
        recs.append({"id": f"q{i}", "video_id": f"v{i}", "video_path": f"v{i}.mp4",
                     "subtitle_path": f"v{i}_en.json", "question": "What?",
                     "candidates": ["cat", "dog", "cow"], "correct_choice": 2,
                     "duration_group": group, "duration": float(group),
                     "starting_timestamp_for_subtitles": 1.5, "question_category": "T3E",
                     "level": "L1"})  # fmt: skip
    (root / "lvb_val.json").write_text(json.dumps(recs), encoding="utf-8")
    (root / "subtitles").mkdir()
    (root / "subtitles" / "v0_en.json").write_text(
        json.dumps([{"start": "00:00:02.000", "end": "00:00:03.000", "line": "moo"}])
    )
    preds = {"q0": "C", "q1": "(C) cow", "q2": "A", "q3": "I cannot tell"}
    code = cli(["eval", "--tasks", "longvideobench", "--task-arg",
                f"longvideobench:root={root}", "--predictions",
                str(write_preds(tmp_path / "p.jsonl", preds)), "--output-path",
                str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = read_results(tmp_path / "out")["results"]["longvideobench"]
    # q3 has no letter: lmms-eval draws a candidate; seeded by the id "q3" it draws C (right)
    assert res["scores"]["acc"] == 75.0 and res["scores"]["unparsed_pct"] == 25.0
    assert res["breakdowns"]["by_bucket"]["acc"] == {
        "8-15s": 100.0, "15-60s": 100.0, "180-600s": 0.0, "900-3600s": 100.0
    }  # fmt: skip
    load_builtin_tasks()
    s = TASKS.create("longvideobench", root=str(root), subtitles=True).load().samples[0]
    assert s.question.endswith(
        "C. cow\nAnswer with the option's letter from the given choices directly.\n"
    )
    from vlmctx.video.subtitles import Subtitles

    track = Subtitles.load(**s.meta["subtitles"])  # what the runner hands to ask()
    assert track.cues[0].start_s == 0.5  # 2.0 - starting_timestamp_for_subtitles
    assert track.text([0.6], len).endswith("\nmoo\n")  # plain text, as the official loader
    assert track.placement == "auto"  # between the frames unless pooling is on
    forced = TASKS.create("longvideobench", root=str(root), subtitles=True,
                          subtitle_placement="interleaved").load().samples[0]  # fmt: skip
    assert Subtitles.load(**forced.meta["subtitles"]).placement == "interleaved"
    assert track.blocks([0.6, 1.2], [0.6, 1.2], len) == [(1, "moo")]
