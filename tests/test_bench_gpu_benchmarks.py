"""The per-benchmark GPU runtime script's dry run (CPU, tiny random model, seconds-long generated
clips): every code path of the timing and the projection, and one-line refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmctx_eval.bench import gpu_benchmarks as gb


def test_dry_run_times_every_row_and_projects_hours(tmp_path: Path) -> None:
    real = gb.clip(3.0, 64, 2)  # a "real" file given for mlvu_gen: timed instead of its clips
    argv = ["--dry-run", "--benchmarks", "lvbench,mlvu_gen", "--protocols",
            "uniform:2,qwen2.5-vl-videomme", "--video", f"mlvu_gen={real}", "--questions",
            "mlvu_gen=100", "-o", str(tmp_path)]  # fmt: skip
    assert gb.main(argv) == 0
    result = json.loads((tmp_path / "gpu_benchmarks.json").read_text())
    rows = result["rows"]
    # lvbench: its one typical duration (2 s in the dry run); mlvu_gen: the given file (3 s)
    assert [(r["task"], r["duration_s"]) for r in rows] == [("lvbench", 2.0)] * 2 + [
        ("mlvu_gen", 3.0)
    ] * 2
    assert {r["video"] for r in rows if r["task"] == "mlvu_gen"} == {real}
    assert all(r["status"] == "ok" for r in rows)
    for r in rows:
        (run,) = r["runs"]
        assert run["seconds"] > 0 and run["new_tokens"] <= 4  # the dry run's cap
        if r["protocol"] == "uniform:2":
            assert run["frames"] == 2
        else:  # the preset's 2 fps over a 2-4 s clip at 2 fps: every frame
            assert run["frames"] == round(r["duration_s"] * 2)
    proj = result["projection"]
    for task, questions in (("lvbench", 1549), ("mlvu_gen", 100)):
        for proto, p in proj[task].items():
            secs = [r["seconds"] for r in rows if r["task"] == task and r["protocol"] == proto]
            assert p["seconds_per_sample"] == pytest.approx(sum(secs) / len(secs))
            assert p["hours"] == pytest.approx(questions * p["seconds_per_sample"] / 3600)
    md = (tmp_path / "gpu_benchmarks.md").read_text()
    assert "| lvbench | uniform:2 | 1549 |" in md and "projected hours" in md


def test_unknown_question_count_gives_no_projection() -> None:
    rows = [{"protocol": "uniform:2", "status": "ok", "seconds": 3.0}]
    p = gb.project(gb.BENCHMARKS["mlvu_gen"], rows, None)["uniform:2"]
    assert p["seconds_per_sample"] == 3.0 and p["hours"] is None
    rows.append({"protocol": "uniform:2", "status": "skipped (time budget)"})
    p = gb.project(gb.BENCHMARKS["videomme"], rows, 2700)["uniform:2"]
    assert p["hours"] is None and not p["complete"]  # a skipped duration: no projection


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dry-run", "--benchmarks", "videomme,nope"], "unknown nope"),
        (["--dry-run", "--protocols", "uniform:0"], "uniform:N"),
        (["--dry-run", "--protocols", "no-such-preset"], "unknown preset"),
        (["--dry-run", "--video", "nope=/x.mp4"], "--video"),
        (["--dry-run", "--video", "videomme=/nonexistent.mp4"], "nonexistent"),
        (["--benchmarks", "videomme"], "--model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert gb.main([*argv, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
