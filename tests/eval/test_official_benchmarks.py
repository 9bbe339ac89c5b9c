"""Official-format loaders (Video-MME, MLVU, LongVideoBench, LVBench, Charades-STA): fixtures in
each release's layout written here, answer parsing as the official scripts do, hand-computed
scores through `vlmctx eval --predictions` (no model, no decoding: videos are placeholders)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from vlmctx.errors import ConfigError
from vlmctx_eval.tasks.benchmarks.common import stratified
from vlmctx_eval.tasks.benchmarks.longvideobench import parse_multi_choice
from vlmctx_eval.tasks.benchmarks.lvbench import split_question
from vlmctx_eval.tasks.benchmarks.mlvu import check_ans
from vlmctx_eval.tasks.benchmarks.videomme import extract_letter
from vlmctx_eval.tasks.charades_sta.task import iou, parse_span
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _results(out: Path) -> dict:
    (f,) = list(out.rglob("results.json"))
    return json.loads(f.read_text())


# ---- answer parsing, the official rules ----------------------------------------------------------
@pytest.mark.parametrize(
    "reply,letter",
    [("B", "B"), ("The best answer is C.", "C"), ("(D) a dog", "D"), ("answer: b", None),
     ("I think it is a cat, because it has whiskers and four legs and a tail", None),
     ("Answer: A", "A"), ("", None)],
)  # fmt: skip
def test_videomme_extract_letter(reply, letter):
    assert extract_letter(reply) == letter


def test_mlvu_check_ans_and_longvideobench_parse():
    assert check_ans("(B) a cat", "B") and check_ans("B.", "B") and check_ans("b) cat", "B")
    assert not check_ans("(A) a dog", "B") and not check_ans("", "B") and not check_ans("(", "B")
    opts = ["red car", "blue bus", "a dog", "nothing"]
    assert parse_multi_choice("B.", opts) == "B"
    assert parse_multi_choice("(C) a dog", opts) == "C"
    assert parse_multi_choice("A or maybe (C)", opts) == "C"  # bracketed wins over bare letters
    assert parse_multi_choice("I believe the video shows a blue bus here", opts) == "B"
    assert parse_multi_choice("unsure", opts) is None  # the official picks at random


def test_lvbench_question_split_and_grounding_math():
    stem, opts = split_question("What is it?\n(A) cat\n(B) dog\n(C) cow\n(D) ant")
    assert stem == "What is it?" and opts == ["cat", "dog", "cow", "ant"]
    assert iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert iou((0, 1), (2, 3)) == 0.0
    assert parse_span("The event happens in 12.5 - 3 seconds.") == (3.0, 12.5)
    assert parse_span("no idea") is None


def test_stratified_limit_takes_buckets_in_turn():
    from vlmctx_eval.records import Sample

    s = [Sample(str(i), "A", meta={"bucket": b}) for i, b in enumerate("sssssmmlll")]
    assert [x.id for x in stratified(s, 5)] == ["0", "1", "5", "6", "7"]  # s,m,l,s,m (m: 2 only)
    assert [x.id for x in stratified(s, 7)] == ["0", "1", "2", "5", "6", "7", "8"]
    assert stratified(s, None) == s


# ---- Video-MME -----------------------------------------------------------------------------------
def _videomme(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for v, (vid, dur) in enumerate([("vidS", "short"), ("vidM", "medium"), ("vidL", "long")]):
        _touch(root / "data" / f"{vid}.mp4")
        for q in range(2):
            rows.append({"video_id": f"00{v}", "duration": dur, "domain": "Knowledge",
                         "sub_category": "x", "url": "u", "videoID": vid,
                         "question_id": f"00{v}-{q + 1}", "task_type": ["Counting", "OCR"][q],
                         "question": f"Q{v}{q}?", "options": ["A. one", "B. two", "C. three",
                                                              "D. four"], "answer": "B"})  # fmt: skip
    (root / "videomme").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")
    sub = root / "subtitle"
    sub.mkdir()
    (sub / "vidS.srt").write_text("1\n00:00:00,000 --> 00:00:05,000\nhello\n", encoding="utf-8")


def test_videomme_rescoring_by_bucket_and_task_type(tmp_path: Path, capsys):
    root = tmp_path / "Video-MME"
    _videomme(root)
    preds = {"000-1": "B", "000-2": "The answer is A", "001-1": "(B) two",  # short 1/2, med 1/1
             "002-1": "C", "002-2": "B. two"}  # long 1/2; 001-2 missing  # fmt: skip
    code = cli(["eval", "--tasks", "videomme", "--task-arg", f"videomme:root={root}",
                "--predictions", str(write_preds(tmp_path / "p.jsonl", preds)),
                "--output-path", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = _results(tmp_path / "out")["results"]["videomme"]
    sc = res["scores"]
    assert sc["acc"] == pytest.approx(300 / 5)
    assert (sc["acc@short"], sc["acc@medium"], sc["acc@long"]) == (50.0, 100.0, 50.0)
    # Counting: 000-1 right, 001-1 right, 002-1 wrong; OCR: 000-2 wrong, 002-2 right
    assert res["breakdowns"]["by_category"]["acc"] == pytest.approx(
        {"Counting": 200 / 3, "OCR": 50.0}
    )
    assert res["n_missing"] == 1


def test_videomme_prompts_with_and_without_subtitles(tmp_path: Path):
    root = tmp_path / "vm"
    _videomme(root)
    load_builtin_tasks()
    plain = TASKS.create("videomme", root=str(root)).load().samples[0]
    assert plain.question == (
        "Select the best answer to the following multiple-choice question based on the video. "
        "Respond with only the letter (A, B, C, or D) of the correct option.\nQ00?\nA. one\n"
        "B. two\nC. three\nD. four\nThe best answer is:"
    )
    subs = TASKS.create("videomme", root=str(root), subtitles=True).load(limit=3).samples
    assert [s.meta["bucket"] for s in subs] == ["short", "medium", "long"]  # stratified
    assert subs[0].meta["subtitles"]["file"].endswith("subtitle/vidS.srt")
    assert "based on the video and the subtitles." in subs[0].question
    assert subs[1].question.startswith("This video's subtitles are listed below:\n"
                                       "No subtitles available\n")  # fmt: skip


# ---- MLVU ----------------------------------------------------------------------------------------
def test_mlvu_m_avg_is_the_mean_of_task_accuracies(tmp_path: Path, capsys):
    root = tmp_path / "MLVU"
    for task, n in (("1_plotQA", 3), ("4_count", 1)):
        recs = []
        for i in range(n):
            _touch(root / "video" / task / f"v{i}.mp4")
            recs.append({"video": f"v{i}.mp4", "duration": 200.0 + 1000 * i, "question": "q?",
                         "candidates": ["x", "y", "z", "w"], "answer": "y",
                         "question_type": task.split("_", 1)[1]})  # fmt: skip
        (root / "json").mkdir(parents=True, exist_ok=True)
        (root / "json" / f"{task}.json").write_text(json.dumps(recs), encoding="utf-8")
    preds = {"1_plotQA/0": "(B) y", "1_plotQA/1": "B", "1_plotQA/2": "(A) x", "4_count/0": "C."}
    code = cli(["eval", "--tasks", "mlvu", "--task-arg", f"mlvu:root={root}", "--predictions",
                str(write_preds(tmp_path / "p.jsonl", preds)), "--output-path",
                str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = _results(tmp_path / "out")["results"]["mlvu"]
    # plotQA 2/3, count 0/1: M-Avg = (66.67 + 0) / 2; overall 2/4
    assert res["primary"] == "macro_acc"
    assert res["scores"]["macro_acc"] == pytest.approx(100 / 3)
    assert res["scores"]["acc"] == pytest.approx(50.0)


# ---- LongVideoBench ------------------------------------------------------------------------------
def test_longvideobench_groups_and_subtitle_track(tmp_path: Path, capsys):
    root = tmp_path / "LVB"
    recs = []
    for i, group in enumerate([15, 60, 600, 3600]):
        _touch(root / "videos" / f"v{i}.mp4")
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
    res = _results(tmp_path / "out")["results"]["longvideobench"]
    assert res["scores"]["acc"] == 50.0 and res["scores"]["unparsed_pct"] == 25.0
    assert res["breakdowns"]["by_bucket"]["acc"] == {
        "8-15s": 100.0, "15-60s": 100.0, "180-600s": 0.0, "900-3600s": 0.0
    }  # fmt: skip
    load_builtin_tasks()
    s = TASKS.create("longvideobench", root=str(root), subtitles=True).load().samples[0]
    assert s.question.endswith("C. cow\nAnswer with the option's letter from the given choices "
                               "directly.")  # fmt: skip
    from vlmctx.video.subtitles import Subtitles

    track = Subtitles.load(**s.meta["subtitles"])  # what the runner hands to ask()
    assert track.cues[0].start_s == 0.5  # 2.0 - starting_timestamp_for_subtitles
    assert track.text([0.6], len).endswith("\nmoo\n")  # plain text, as the official loader
    assert track.placement == "auto"  # between the frames unless pooling is on
    forced = TASKS.create("longvideobench", root=str(root), subtitles=True,
                          subtitle_placement="interleaved").load().samples[0]  # fmt: skip
    assert Subtitles.load(**forced.meta["subtitles"]).placement == "interleaved"
    assert track.blocks([0.6, 1.2], [0.6, 1.2], len) == [(1, "moo")]


# ---- LVBench -------------------------------------------------------------------------------------
def test_lvbench_per_question_type(tmp_path: Path, capsys):
    root = tmp_path / "LVBench"
    _touch(root / "videos" / "k1.mp4")
    qa = [{"uid": "1", "question": "Who?\n(A) a\n(B) b\n(C) c\n(D) d", "answer": "A",
           "question_type": ["entity recognition", "reasoning"], "time_reference": "00:01-00:02"},
          {"uid": "2", "question": "When?\n(A) a\n(B) b\n(C) c\n(D) d", "answer": "(D)",
           "question_type": ["reasoning"], "time_reference": ""},
          {"uid": "3", "question": "no options here", "answer": "A", "question_type": []}]  # fmt: skip
    line = {"key": "k1", "type": "sports", "video_info": {"duration_minutes": 60.0}, "qa": qa}
    (root / "video_info.meta.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    preds = {"1": "A", "2": "B"}
    code = cli(["eval", "--tasks", "lvbench", "--task-arg", f"lvbench:root={root}",
                "--predictions", str(write_preds(tmp_path / "p.jsonl", preds)),
                "--output-path", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = _results(tmp_path / "out")["results"]["lvbench"]
    assert res["scores"]["acc"] == 50.0
    assert res["breakdowns"]["by_category"]["acc"] == {
        "entity recognition": 100.0, "reasoning": 50.0
    }  # fmt: skip
    assert res["n_data_errors"] == 1 and "fewer than two" in res["data_errors"][0]["error"]


# ---- Charades-STA --------------------------------------------------------------------------------
def test_charades_sta_miou_and_recall(tmp_path: Path, capsys):
    root = tmp_path / "charades"
    for v in ("AAA", "BBB"):
        _touch(root / "videos" / f"{v}.mp4")
    (root / "charades_sta_test.txt").write_text(
        "AAA 0.0 10.0##person opens a door.\nAAA 10.0 20.0##person sits.\n"
        "BBB 2.0 6.0##person drinks.\nbroken line\n", encoding="utf-8",
    )  # fmt: skip
    # IoUs: [0,10] vs [0,10] = 1; [12,20] vs [10,20] = 0.8; [4,8] vs [2,6] = 2/6; broken = 0
    preds = {"AAA#1": "0 - 10", "AAA#2": "From 12 to 20 seconds.", "BBB#3": "4.0 - 8.0"}
    code = cli(["eval", "--tasks", "charades_sta", "--task-arg", f"charades_sta:root={root}",
                "--predictions", str(write_preds(tmp_path / "p.jsonl", preds)),
                "--output-path", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = _results(tmp_path / "out")["results"]["charades_sta"]
    sc = res["scores"]
    assert sc["miou"] == pytest.approx(100 * (1 + 0.8 + 1 / 3) / 3)
    assert (sc["R@0.3"], sc["R@0.5"], sc["R@0.7"]) == pytest.approx((100.0, 200 / 3, 200 / 3))
    assert res["n_data_errors"] == 1


def test_missing_folders_are_clear_errors(tmp_path: Path, capsys):
    for task in ("videomme", "mlvu", "longvideobench", "lvbench", "charades_sta"):
        with pytest.raises(ConfigError, match=f"{task}: .*not found"):
            cli(["eval", "--tasks", task, "--task-arg", f"{task}:root={tmp_path / 'nope'}",
                 "--predictions", str(write_preds(tmp_path / "p.jsonl", {})),
                 "--output-path", str(tmp_path / "out")])  # fmt: skip
