"""Video-MME as released (parquet, results template with its trailing commas and no videoID,
.mp4/.MP4/.mkv videos), scored through ``vlmctx eval --predictions`` under both protocols with
hand-computed numbers (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli
from tests.eval.tasks.rescoring import rescore, rescore_argv
from vlmctx.errors import DataFormatError
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks

EXT = {"vidS": ".mp4", "vidM": ".MP4", "vidL": ".mkv"}


def _release(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for v, (vid, dur) in enumerate([("vidS", "short"), ("vidM", "medium"), ("vidL", "long")]):
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"{vid}{EXT[vid]}").write_bytes(b"")
        for q in range(2):
            rows.append(
                {
                    "video_id": f"00{v}",
                    "duration": dur,
                    "domain": "Knowledge",
                    "sub_category": "Humanity & History",
                    "url": "u",
                    "videoID": vid,
                    "question_id": f"00{v}-{q + 1}",
                    "task_type": ["Counting Problem", "OCR Problems"][q],
                    "question": f"Q{v}{q}?",
                    "options": ["A. one", "B. two", "C. three", "D. four"],
                    "answer": "B",
                }
            )
    (root / "videomme").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")


PREDS = {
    "000-1": "B",
    "000-2": "Best answer: C",
    "001-1": "I cannot tell",
    "001-2": "(B) two",
    "002-1": "C",
}  # 002-2 has no prediction


def _run(tmp_path: Path, root: Path, protocol: str | None, preds=PREDS) -> dict:
    return rescore(tmp_path, "videomme", root, preds, protocol)


def test_official_leaves_unanswered_out_and_keeps_the_prefix_quirk(tmp_path: Path):
    root = tmp_path / "Video-MME"
    _release(root)
    res = _run(tmp_path, root, None)  # the default protocol is official
    # answered: 000-1 B (right), 000-2 "Best answer: C" reads B (right), 001-2 right, 002-1 wrong;
    # 001-1 has no letter: out of the denominator -> 3 / 4
    assert res["scores"]["acc"] == pytest.approx(75.0)
    assert res["scores"]["acc@short"] == 100.0 and res["scores"]["acc@medium"] == 100.0
    assert res["scores"]["acc@long"] == 0.0
    assert res["scores"]["unparsed_pct"] == pytest.approx(20.0)  # 1 of 5 predictions


def test_lmms_eval_counts_every_question(tmp_path: Path):
    root = tmp_path / "Video-MME"
    _release(root)
    res = _run(tmp_path, root, "lmms-eval")
    # 000-1 right; 000-2 reads C (wrong); 001-1 "" (wrong); 001-2 right; 002-1 wrong -> 2 / 5
    assert res["scores"]["acc"] == pytest.approx(40.0)


TEMPLATE = """[
    {
        "video_id": "001",
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "questions": [
            {
                "question_id": "001-1",
                "task_type": "Counting Problem",
                "question": "Which decoration has the largest number?",
                "options": ["A. Apples.", "B. Candles.", "C. Berries.", "D. Same."],
                "answer": "C",
                "response": "C. Berries.",
            },
            {
                "question_id": "001-2",
                "task_type": "Information Synopsis",
                "question": "What is the genre of this video?",
                "options": ["A. News.", "B. Documentary.", "C. Vlog.", "D. Tutorial."],
                "answer": "A",
                "response": "D.",
            }
        ]
    }
]"""


def test_results_template_as_released_loads(tmp_path: Path):
    root = tmp_path / "vm"
    (root / "data").mkdir(parents=True)
    (root / "output_test_template.json").write_text(TEMPLATE)
    (root / "data" / "001.mp4").write_bytes(b"")
    res = _run(tmp_path, root, None, {"001-1": "C. Berries.", "001-2": "D."})
    assert res["n_data_errors"] == 0 and res["n_predicted"] == 2
    assert res["scores"]["acc"] == pytest.approx(50.0)


def test_template_beside_the_parquet_maps_video_id_to_videoID(tmp_path: Path):
    root = tmp_path / "vm"
    _release(root)
    (root / "output_test_template.json").write_text(TEMPLATE)  # 001-1/001-2 are in the parquet
    load_builtin_tasks()
    loaded = TASKS.create("videomme", root=str(root)).load()
    assert len(loaded.samples) == 6 and not loaded.errors  # no duplicates, videos found
    assert {Path(s.video).suffix for s in loaded.samples} == {".mp4", ".MP4", ".mkv"}


def test_prompts_per_protocol(tmp_path: Path):
    root = tmp_path / "vm"
    _release(root)
    load_builtin_tasks()
    off = TASKS.create("videomme", root=str(root)).load().samples[0].question
    assert off.endswith("A. one\nB. two\nC. three\nD. four\nThe best answer is:")
    assert "based on the video. Respond" in off
    lm = TASKS.create("videomme", root=str(root), protocol="lmms-eval").load().samples[0]
    assert "video and the subtitles" in lm.question and lm.max_new_tokens == 16


def test_a_run_that_scores_nothing_fails(tmp_path: Path, capsys):
    root = tmp_path / "vm"
    _release(root)
    for f in (root / "data").iterdir():
        f.unlink()  # every video missing: every record is a data error
    with pytest.raises(DataFormatError, match="nothing"):
        cli(rescore_argv(tmp_path, "videomme", root, PREDS)[0])


def test_official_results_file_scores_the_same_by_the_official_loop(tmp_path: Path):
    from tests.eval.tasks.videomme.test_videomme_fidelity import oracle_extract

    root = tmp_path / "Video-MME"
    _release(root)
    res = _run(tmp_path, root, None)
    (path,) = list((tmp_path / "out-default").rglob("official_videomme.json"))
    videos = json.loads(path.read_text())
    correct = answered = 0
    for video in videos:  # eval_your_results.py's loop, every duration together
        for q in video["questions"]:
            got = oracle_extract(q["response"])
            if got != "":
                answered += 1
                correct += got == q["answer"]
    assert 100 * correct / answered == pytest.approx(res["scores"]["acc"])
    assert sum(len(v["questions"]) for v in videos) == 5  # the predicted questions
