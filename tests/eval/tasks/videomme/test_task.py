"""Video-MME in its release layout (parquet, subtitles): rescoring by bucket and task type, the
prompts with and without subtitles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.conftest import cli, read_results, touch, write_preds
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks


def write_videomme(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for v, (vid, dur) in enumerate([("vidS", "short"), ("vidM", "medium"), ("vidL", "long")]):
        touch(root / "data" / f"{vid}.mp4")
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
    write_videomme(root)
    preds = {"000-1": "B", "000-2": "The answer is A", "001-1": "(B) two",  # short 1/2, med 1/1
             "002-1": "C", "002-2": "B. two"}  # long 1/2; 001-2 missing  # fmt: skip
    code = cli(["eval", "--tasks", "videomme", "--task-arg", f"videomme:root={root}",
                "--predictions", str(write_preds(tmp_path / "p.jsonl", preds)),
                "--output-path", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = read_results(tmp_path / "out")["results"]["videomme"]
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
    write_videomme(root)
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
    assert "based on the video. Respond" in subs[0].question  # the README's wording
    assert subs[1].question.startswith("This video's subtitles are listed below:\n"
                                       "No subtitles available\n")  # fmt: skip
