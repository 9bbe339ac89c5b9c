"""LVBench as ``download.sh`` leaves it (``data/video_info.meta.jsonl``, video2dataset's numbered
``scripts/videos/00000/00000000.mp4`` with ``.json`` sidecars), scored under both protocols with
hand-computed numbers (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.eval.tasks.rescoring import rescore
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks

Q = "What?\n(A) a\n(B) b\n(C) c\n(D) d"


def _release(root: Path) -> None:
    lines = []
    for v, key in enumerate(["yt_key_0001", "yt_key_0002"]):
        qa = [
            {
                "uid": f"{v}{q}",
                "question": Q,
                "answer": "AB"[q],
                "question_type": [["entity recognition", "reasoning"], ["reasoning"]][q],
                "time_reference": "",
            }
            for q in range(2)
        ]
        lines.append(json.dumps({"key": key, "type": "sports", "qa": qa}))
        shard = root / "scripts" / "videos" / "00000"
        shard.mkdir(parents=True, exist_ok=True)
        (shard / f"0000000{v}.mp4").write_bytes(b"")
        if v == 0:  # the second video has no sidecar: found by its row number
            url = f"https://www.youtube.com/watch?v={key}"
            (shard / f"0000000{v}.json").write_text(json.dumps({"url": url, "key": f"0000000{v}"}))
    (root / "data").mkdir(parents=True)
    (root / "data" / "video_info.meta.jsonl").write_text("\n".join(lines) + "\n")


PREDS = {"00": "A", "01": "The answer is B", "10": "(A) a", "11": "b"}


def _run(tmp_path: Path, protocol: str) -> dict:
    root = tmp_path / "LVBench"
    _release(root)
    return rescore(tmp_path, "lvbench", root, PREDS, protocol)


def test_videos_found_in_the_download_layout(tmp_path: Path):
    root = tmp_path / "LVBench"
    _release(root)
    load_builtin_tasks()
    loaded = TASKS.create("lvbench", root=str(root)).load()
    assert not loaded.errors
    assert [Path(s.video).name for s in loaded.samples] == ["00000000.mp4"] * 2 + [
        "00000001.mp4"
    ] * 2


def test_official_polish_answer(tmp_path: Path):
    res = _run(tmp_path, "official")
    # "A" right; "The answer is B" -> "T" wrong; "(A) a" right; "b" wrong -> 2/4
    assert res["scores"]["acc"] == 50.0
    # entity recognition: 00, 10 right; reasoning: 00 right, 01 wrong, 10 right, 11 wrong
    assert res["breakdowns"]["by_category"]["acc"] == {
        "entity recognition": 100.0,
        "reasoning": 50.0,
    }


def test_lmms_eval_extraction(tmp_path: Path):
    res = _run(tmp_path, "lmms-eval")
    # "A" right; "The answer is B" -> B right; "(A) a" right; "b" -> "" wrong -> 3/4
    assert res["scores"]["acc"] == 75.0


def test_official_answers_file(tmp_path: Path):
    _run(tmp_path, "official")
    (path,) = list((tmp_path / "out-official").rglob("official_lvbench_answers.json"))
    assert json.loads(path.read_text()) == {"00": "A", "01": "T", "10": "A", "11": "b"}
