"""Stratified ``--limit`` (issue 31): every stratum a report shows is covered, proportionally,
deterministically under ``--seed``; a limit below a dimension's levels is refused in one line;
generated-data tasks default to a folder under the cache.

Before, ``vlmctx eval --model toylab --tasks toylab --limit 20`` took the first 20 index lines:
all of them 16-frame videos of two kinds, so the report said "accuracy 100.00".
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.eval.conftest import cli, read_results, write_preds
from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.harness.strata import describe_plan, select
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.registry import load_builtin_tasks

KINDS, FRAMES = "abcde", (16, 32, 64, 128, 256)


def _grid(per_cell: int = 10) -> list[Sample]:
    return [
        Sample(id=f"{k}-{f}-{j}", target="x", meta={"task": k, "frames": f})
        for f in FRAMES
        for k in KINDS
        for j in range(per_cell)
    ]


def _strata(s: Sample) -> dict[str, str]:
    return {"kind": s.meta["task"], "frames": str(s.meta["frames"])}


def _levels(samples: list[Sample]) -> tuple[Counter, Counter]:
    return Counter(s.meta["task"] for s in samples), Counter(s.meta["frames"] for s in samples)


def test_limit_below_the_strata_covers_every_level_evenly() -> None:
    sel = select("toylab", _grid(), _strata, limit=20)
    kinds, frames = _levels(sel.samples)
    assert len(sel.samples) == 20
    assert set(kinds.values()) == {4} and set(frames.values()) == {4}  # 5 x 5 levels, 4 each
    assert len({(s.meta["task"], s.meta["frames"]) for s in sel.samples}) == 20  # 20 strata
    line = describe_plan("toylab", sel.plan)
    assert line.startswith("toylab: 20 of 250 samples over 25 strata (kind x frames)")
    assert "every level covered" in line and "frames 16 4, 32 4, 64 4, 128 4, 256 4" in line


def test_limit_above_the_strata_is_one_each_then_proportional() -> None:
    samples = [s for s in _grid() if not (s.meta["frames"] == 256 and int(s.id[-1]) >= 2)]
    sel = select("toylab", samples, _strata, limit=60)
    cells = Counter((s.meta["task"], s.meta["frames"]) for s in sel.samples)
    assert len(sel.samples) == 60 and len(cells) == 25 and min(cells.values()) >= 1
    # the 256-frame strata hold 2 samples, the others 10: they get about 10/2 times fewer
    small = [c for (k, f), c in cells.items() if f == 256]
    big = [c for (k, f), c in cells.items() if f != 256]
    assert max(small) <= 2 and min(big) >= 2
    assert sel.plan["n_strata"] == 25 and sel.plan["n_selected"] == 60


def test_same_seed_same_samples_other_seed_others_official_order_kept() -> None:
    ids = lambda seed: [s.id for s in select("t", _grid(), _strata, 30, seed=seed).samples]  # noqa: E731
    assert ids(1) == ids(1) and ids(1) != ids(2)
    order = {s.id: i for i, s in enumerate(_grid())}
    assert [order[i] for i in ids(1)] == sorted(order[i] for i in ids(1))


def test_limit_below_a_dimensions_levels_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as exc:
        select("toylab", _grid(), _strata, limit=4)
    msg = str(exc.value)
    assert "\n" not in msg and "fewer than the 5 kind levels" in msg
    assert "--limit 5" in msg and "--limit-per-stratum K" in msg and "25 strata" in msg


def test_limit_per_stratum_takes_k_from_every_stratum() -> None:
    samples = _grid(3)[:-2]  # the last stratum keeps one sample
    sel = select("toylab", samples, _strata, per_stratum=2)
    cells = Counter((s.meta["task"], s.meta["frames"]) for s in sel.samples)
    assert len(cells) == 25 and sorted(set(cells.values())) == [1, 2]
    assert sel.plan["limit_per_stratum"] == 2


def test_every_task_declares_the_strata_its_report_shows(tmp_path: Path) -> None:
    load_builtin_tasks()
    toy = TASKS.create("toylab", dir=str(tmp_path / "t"))
    vn = TASKS.create("vniah", dir=str(tmp_path / "v"))
    s = Sample(id="x", target="1", meta={"task": "ball", "frames": 64, "depth": 0.5})
    assert toy.strata(s) == {"kind": "ball", "frames": "64"}
    assert vn.strata(s) == {"frames": "64", "depth": "0.50"}
    from vlmctx_eval.tasks.common.release import OfficialRelease
    from vlmctx_eval.tasks.lvbench.task import LVBench

    assert OfficialRelease.strata_keys == ("bucket", "category")  # videomme, mlvu, lvb, lvbench
    lv = Sample(id="y", target="A", meta={"bucket": "long", "category": ["KIR", "TG"]})
    bench = object.__new__(LVBench)  # strata() reads only the class's keys and the sample
    assert bench.strata(lv) == {"bucket": "long", "category": "KIR"}


def _small_toylab(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--task-arg",
        "toylab:frames=8,16",
        "--task-arg",
        "toylab:kinds=ball,count,order",
        "--task-arg",
        "toylab:per_cell=2",
        *extra,
    ]


def test_generated_task_defaults_under_the_cache_and_limit_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VLMCTX_CACHE", str(tmp_path / "cache"))
    preds = {
        f"{k}-{n:04d}-{j:03d}": "red"
        for k in ("ball", "count", "order")
        for n in (8, 16)
        for j in range(2)
    }
    argv = [
        "eval",
        "--tasks",
        "toylab",
        "--predictions",
        str(write_preds(tmp_path / "p.jsonl", preds)),
        "--model",
        "toylab",
        "--output-path",
        str(tmp_path / "out"),
        "--no-progress",
        "--limit",
        "4",
        "--seed",
        "3",
        *_small_toylab(tmp_path),
    ]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    data = tmp_path / "cache" / "eval" / "toylab"
    (folder,) = list(data.iterdir())
    assert f"toylab: data in {folder}" in out and (folder / "toylab.jsonl").exists()
    assert "toylab: 4 of 12 samples over 6 strata (kind x frames)" in out
    res = read_results(tmp_path / "out")
    sel = res["results"]["toylab"]["selection"]
    assert sel["limit"] == 4 and sel["seed"] == 3 and sel["n_selected"] == 4
    assert sel["levels"]["frames"] == {"8": 2, "16": 2}
    assert res["results"]["toylab"]["n_samples"] == 4 and res["seed"] == 3
    assert res["predictions_errors"] == []  # the 8 left out by --limit are not "unknown"
    # the closing summary: task, metric, value, interval, n and where the report is
    assert "task    metric    value  95% interval" in out
    report = next(ln for ln in out.splitlines() if ln.startswith("report: "))[8:]
    assert Path(report).is_file() and report.endswith("report.html")
    assert json.loads(json.dumps(res))["results"]["toylab"]["intervals"]["n"] == 4


def test_too_small_limit_stops_before_any_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMCTX_CACHE", str(tmp_path / "cache"))
    argv = [
        "eval",
        "--tasks",
        "toylab",
        "--model",
        "no-such-model-would-fail-to-load",
        "--output-path",
        str(tmp_path / "out"),
        "--limit",
        "2",
        *_small_toylab(tmp_path),
    ]
    with pytest.raises(ConfigError, match="--limit 2 is fewer than the 3 kind levels"):
        cli(argv)
    with pytest.raises(ConfigError, match="not both"):
        cli([*argv, "--limit-per-stratum", "1"])
