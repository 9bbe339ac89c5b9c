"""Charades-STA as released: TALL's ``charades_sta_test.txt`` and the 480p archive unpacked to
``Charades_v1_480/``; scores hand-computed under both protocols; a run that scores nothing is an
error, not ``n/a`` with exit 0 (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.conftest import cli
from tests.eval.tasks.rescoring import rescore, rescore_argv
from vlmctx.errors import DataFormatError
from vlmctx_eval.tasks.charades_sta.release import find_video

ANNOTATION = (
    "AAA 0.0 10.0##person opens a door.\nAAA 10.0 20.0##person sits.\n"
    "BBB 2.0 6.0##person drinks.\nBBB 2.0 6.0##person drinks.\nbroken line\n"
)


def _release(root: Path, folder: str = "Charades_v1_480") -> None:
    (root / folder).mkdir(parents=True)
    for v in ("AAA", "BBB"):
        (root / folder / f"{v}.mp4").write_bytes(b"")
    (root / "charades_sta_test.txt").write_text(ANNOTATION, encoding="utf-8")


# IoUs: [0,10] = 1; "00:12 - 00:20" -> [12,20] vs [10,20] = 0.8; [4,8] vs [2,6] = 2/6;
# the repeated line: "It starts at 3 and ends at 5." is one sentence with two numbers, not a
# range: the first number of each sentence, paired across sentences -> one number: bad (0)
PREDS = {
    "AAA#1": "0 - 10",
    "AAA#2": "00:12 - 00:20",
    "BBB#3": "4.0 - 8.0",
    "BBB#4": "It starts at 3 and ends at 5.",
}


def _run(tmp_path: Path, root: Path, protocol: str | None) -> dict:
    return rescore(tmp_path, "charades_sta", root, PREDS, protocol)


def test_release_layout_and_lmms_eval_metrics(tmp_path: Path):
    root = tmp_path / "charades"
    _release(root)
    res = _run(tmp_path, root, None)  # default: lmms-eval
    assert res["n_data_errors"] == 1  # the broken line
    sc = res["scores"]
    # lmms-eval keys results by video>>>caption>>>timestamp: the repeated BBB line counts once,
    # with the LAST prediction (IoU 0): IoUs 1, 0.8, 0
    assert sc["miou"] == pytest.approx(100 * 1.8 / 3)
    assert (sc["R@0.3"], sc["R@0.5"], sc["R@0.7"]) == pytest.approx((200 / 3, 200 / 3, 200 / 3))


def test_official_counts_every_line(tmp_path: Path):
    root = tmp_path / "charades"
    _release(root)
    sc = _run(tmp_path, root, "official")["scores"]
    assert sc["miou"] == pytest.approx(100 * (1 + 0.8 + 1 / 3 + 0) / 4)
    assert sc["R@0.3"] == pytest.approx(75.0) and sc["R@0.5"] == pytest.approx(50.0)


def test_videos_folder_and_extensions(tmp_path: Path):
    root = tmp_path / "charades"
    _release(root)
    (root / "videos").mkdir()
    (root / "videos" / "CCC.MP4").write_bytes(b"")
    assert find_video(str(root), "AAA") == str(root / "Charades_v1_480" / "AAA.mp4")
    assert find_video(str(root), "CCC") == str(root / "videos" / "CCC.MP4")
    assert find_video(str(root), "NOPE0") is None


def test_no_video_found_is_an_error_not_na(tmp_path: Path):
    root = tmp_path / "charades"
    _release(root, folder="elsewhere")
    with pytest.raises(DataFormatError, match="nothing"):
        cli(rescore_argv(tmp_path, "charades_sta", root, PREDS)[0])
