"""Charades-STA in its release layout: IoU and span parsing, mIoU and R@IoU by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.conftest import cli, read_results, touch, write_preds


def test_charades_sta_miou_and_recall(tmp_path: Path, capsys):
    root = tmp_path / "charades"
    for v in ("AAA", "BBB"):
        touch(root / "videos" / f"{v}.mp4")
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
    res = read_results(tmp_path / "out")["results"]["charades_sta"]
    sc = res["scores"]
    assert sc["miou"] == pytest.approx(100 * (1 + 0.8 + 1 / 3) / 3)
    assert (sc["R@0.3"], sc["R@0.5"], sc["R@0.7"]) == pytest.approx((100.0, 200 / 3, 200 / 3))
    assert res["n_data_errors"] == 1
