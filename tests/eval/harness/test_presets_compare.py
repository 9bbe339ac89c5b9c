"""`vlmctx eval --tasks list`, `--preset`, and `vlmctx report --compare A B` (paired McNemar)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from tests.eval.tasks.videomme.test_task import write_videomme
from vlmctx.errors import ConfigError
from vlmctx_eval.harness.presets import PRESETS


def test_tasks_list_shows_tasks_parameters_and_presets(capsys):
    assert cli(["eval", "--tasks", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("videomme", "mlvu", "longvideobench", "lvbench", "charades_sta", "vniah"):
        assert f"  {name} " in out
    assert "subtitles=False" in out  # parameters with their defaults
    for name, p in PRESETS.items():
        assert name in out and p.source in out


def _rescore(tmp: Path, root: Path, model: str, preds: dict[str, str], *extra: str) -> Path:
    out = tmp / "runs"
    tasks = [] if "--preset" in extra else ["--tasks", "videomme"]
    code = cli(["eval", *tasks, "--model", model, "--task-arg", f"videomme:root={root}", "--predictions",
                str(write_preds(tmp / f"{model}.jsonl", preds)), "--output-path", str(out),
                "--no-progress", *extra])  # fmt: skip
    assert code == 0
    (run,) = [p.parent for p in out.rglob("results.json") if p.parent.name.startswith(model)]
    return run


def test_preset_sets_the_protocol_and_flags_override_it(tmp_path: Path):
    root = tmp_path / "vm"
    write_videomme(root)
    run = _rescore(tmp_path, root, "qwen", {"000-1": "B"}, "--preset", "qwen2.5-vl-videomme")
    doc = json.loads((run / "results.json").read_text())
    assert (
        doc["preset"]["name"] == "qwen2.5-vl-videomme" and "2502.13923" in doc["preset"]["source"]
    )
    assert doc["config"]["sampler"] == "token_budget"
    assert doc["config"]["sampler_params"]["max_frames"] == 768
    run = _rescore(tmp_path, root, "qwen64", {"000-1": "B"}, "--preset", "qwen2.5-vl-videomme",
                   "--frames", "64")  # fmt: skip
    doc = json.loads((run / "results.json").read_text())
    assert doc["config"]["sampler_params"]["max_frames"] == 64
    assert doc["config"]["sampler_params"]["fps"] == 2.0
    with pytest.raises(ConfigError, match="unknown preset"):
        cli(["eval", "--preset", "qwen9", "--predictions", str(tmp_path / "qwen.jsonl")])
    with pytest.raises(ConfigError, match="is for task videomme"):
        cli(["eval", "--tasks", "mlvu", "--preset", "llava-ov-videomme",
             "--predictions", str(tmp_path / "qwen.jsonl")])  # fmt: skip


def test_compare_two_runs_pairs_shared_samples(tmp_path: Path, capsys):
    root = tmp_path / "vm"
    write_videomme(root)  # six questions, gold B
    a = _rescore(tmp_path, root, "A", {"000-1": "B", "000-2": "A", "001-1": "B", "001-2": "C",
                                        "002-1": "D", "002-2": "A"})  # fmt: skip
    b = _rescore(tmp_path, root, "B", {"000-1": "B", "000-2": "B", "001-1": "B", "001-2": "B",
                                        "002-1": "B"})  # 002-2 missing in B  # fmt: skip
    capsys.readouterr()
    assert cli(["report", str(a), str(b), "--compare", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # shared 5: A right on 000-1, 001-1 (2/5); B right on all 5; A-only 0, B-only 3
    # exact McNemar: 2 * P(X <= 0 | n=3) = 2/8 = 0.25; Wilson 2/5 = [11.8, 76.9], 5/5 = [56.6, 100]
    assert "| tasks | " not in out
    row = next(ln for ln in out.splitlines() if ln.startswith("| videomme"))
    assert row == ("| videomme | 5 | 40.0 [11.8, 76.9] | 100.0 [56.6, 100.0] | +60.0 | 0 | 3 | "
                   "0.25 (exact binomial) |")  # fmt: skip
    assert (tmp_path / "compare.md").read_text().count("| videomme") == 1
    with pytest.raises(ConfigError, match="exactly two"):
        cli(["report", str(a), "--compare"])
