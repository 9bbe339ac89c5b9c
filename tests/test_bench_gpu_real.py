"""The GPU real-architecture benchmark's dry run (CPU, shrunk configs): every code path of the
measurement, planner vs measured on the same prompt, and one-line refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmctx.position import POSITIONS
from vlmctx_eval.bench import gpu_real


def test_dry_run_measures_every_case_and_agrees_with_the_planner(tmp_path: Path) -> None:
    argv = ["--dry-run", "--cards", "Qwen/Qwen2.5-VL-7B-Instruct", "--frames", "8", "-o",
            str(tmp_path)]  # fmt: skip
    assert gpu_real.main(argv) == 0
    result = json.loads((tmp_path / "gpu_real.json").read_text())
    (card,) = result["cards"]
    assert [r["pooler"] for r in card["rows"]] == gpu_real.POOLERS
    for r in card["rows"]:
        assert r["status"] == "ok"
        assert r["tokens"] == r["plan_tokens"]  # same processor, same prompt
        assert r["kv"] + r["state"] == r["plan_kv"] + r["plan_state"] > 0
    none, progressive, _ = card["rows"]
    assert progressive["visual"] < none["visual"]
    assert {s["scheme"] for s in card["schemes"]} == set(POSITIONS.names())  # Qwen: M-RoPE
    assert all(s["status"] == "ok" and s["seconds"] > 0 for s in card["schemes"])
    md = (tmp_path / "gpu_real.md").read_text()
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in md and "| 8 | progressive | ok |" in md


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dry-run", "--cards", "Qwen/Nope"], "no architecture card"),
        (["--dry-run", "--checkpoint", "/nonexistent"], "config.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert gpu_real.main([*argv, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_dry_run_with_a_checkpoint_checks_identity_and_runs_vniah(tmp_path: Path) -> None:
    from vlmctx.models import tiny_path

    ckpt = str(tiny_path("tiny-qwen2_5_vl"))
    argv = ["--dry-run", "--cards", "Qwen/Qwen2.5-VL-7B-Instruct", "--frames", "8",
            "--checkpoint", ckpt, "-o", str(tmp_path)]  # fmt: skip
    assert gpu_real.main(argv) == 0
    ck = json.loads((tmp_path / "gpu_real.json").read_text())["checkpoint"]
    assert set(ck["identity"]) == set(POSITIONS.names()) and all(ck["identity"].values())
    for res in ck["vniah"].values():
        assert res["results"]["vniah"]["n_predicted"] == 1
    assert "| V-NIAH scheme |" in (tmp_path / "gpu_real.md").read_text()


@pytest.mark.slow  # 30 questions and 4 pairs on a shrunk model: minutes on the shared CPU
def test_dry_run_prefix_reuse_times_k_questions_off_and_on(tmp_path: Path) -> None:
    argv = ["--dry-run", "--prefix-reuse", "--cards", "Qwen/Qwen2.5-VL-7B-Instruct", "--frames",
            "8", "--time-budget", "0", "-o", str(tmp_path)]  # fmt: skip
    assert gpu_real.main(argv) == 0
    (reuse,) = json.loads((tmp_path / "gpu_real.json").read_text())["prefix_reuse"]
    on, off = reuse["rows"]["on"], reuse["rows"]["off"]
    assert len(on) == len(off) == 15
    assert [r["prefix_cache"] for r in on] == ["miss"] + ["hit"] * 14
    assert all(r["prefix_cache"] == "off" for r in off)
    assert reuse["totals"]["15"]["prefill_on"] < reuse["totals"]["15"]["prefill_off"]
    assert "### prefix reuse" in (tmp_path / "gpu_real.md").read_text()
