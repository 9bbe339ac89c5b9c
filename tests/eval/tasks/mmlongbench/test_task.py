"""MMLongBench task on fixture files in the official format: subset, prompts, macro-averages."""

from __future__ import annotations

import json
import random

import pytest

from tests.eval.conftest import cli, write_preds
from tests.eval.mmlb_fixture import EXPECTED
from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import ImageRef
from vlmctx_eval.tasks.mmlongbench import MMLongBench
from vlmctx_eval.tasks.mmlongbench.data import DATASETS, sample_by_id, sample_shuffle


def _by_id(samples):
    return {s.id: s for s in samples}


def test_loads_every_dataset_with_official_prompts(mmlb):
    root, preds = mmlb
    loaded = MMLongBench(str(root)).load([8])
    assert loaded.errors == []
    got = _by_id(loaded.samples)
    assert set(got) == set(preds)
    vrag = got["infoseek/K8/0"]
    assert vrag.content[0].startswith("Use the given documents to write a concise")
    assert isinstance(vrag.content[1], ImageRef) and vrag.content[2] == "Where?"
    assert vrag.max_new_tokens == 128 and got["gov-report/K8/0"].max_new_tokens == 384
    vh = got["vh_single/K8/0"]
    assert sum(isinstance(c, ImageRef) for c in vh.content) == 3
    mc = "".join(
        c if isinstance(c, str) else "<image>" for c in got["mm_niah_retrieval-image/K8/0"].content
    )
    assert mc.endswith("Question: Question ri?\nA. <image>\nB. <image>")
    icl = "".join(c if isinstance(c, str) else "<I>" for c in got["cars196/K8/0"].content)
    assert 'Only output "label: {label}"' in icl and icl.endswith("Now classify this image: <I>")
    doc = "".join(c if isinstance(c, str) else "<I>" for c in got["slidevqa/K8/0"].content)
    assert "Document doc-abcdefghijk: <I>" in doc  # V1.1: 15-char doc id, no page number
    assert "Based on Document doc-abcdefghijk, answer the following question. Q?" in doc
    gov = "".join(c if isinstance(c, str) else "<I>" for c in got["gov-report/K8/0"].content)
    assert "Document gao-18-107 (page 0): <I>" in gov


def test_official_subset_semantics():
    rows = [(i, {"id": f"q{i // 2}"}) for i in range(10)]  # 5 ids, 2 depth variants each
    kept = sample_by_id(rows, 2, 42)
    ids = sorted({r["id"] for _, r in kept})
    assert ids == sorted(random.Random(42).sample([f"q{i}" for i in range(5)], 2))
    assert [i for i, _ in kept] == sorted(i for i, _ in kept) and len(kept) == 4  # file order
    shuffled = sample_shuffle(list(range(10)), 3, 42)
    assert len(shuffled) == 3 and len(set(shuffled)) == 3
    assert sample_by_id(rows, None, 42) == rows


def test_rescoring_gives_hand_computed_macro_averages(mmlb, tmp_path):
    root, preds = mmlb
    pred_file = write_preds(
        tmp_path / "p.jsonl",
        preds,
        ('{"sample_id": "nope/K8/0", "prediction": "x"}', '{"prediction": 3}', "{torn"),
    )
    argv = ["eval", "--tasks", "mmlongbench", "--task-arg", f"mmlongbench:root={root}",
            "--lengths", "8k", "--predictions", str(pred_file), "--output-path", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert cli(argv) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    doc = json.loads((run / "results.json").read_text())
    res = doc["results"]["mmlongbench"]
    for cat, value in EXPECTED.items():
        assert res["breakdowns"]["by_length"][cat]["8k"] == pytest.approx(value), cat
    assert res["scores"]["Avg@8k"] == pytest.approx(EXPECTED["Avg"])
    assert res["primary"] == "Avg@8k"
    ds = res["breakdowns"]["datasets"]
    assert ds["vh_single"]["8k"] == 75.0 and ds["vh_multi"]["8k"] == 100.0  # flipped from 0
    assert res["breakdowns"]["datasets_raw"]["vh_multi"]["8k"] == 0.0
    assert ds["slidevqa"]["8k"] == pytest.approx(40.0)
    # malformed / unknown prediction records are reported, not dropped
    errs = [e["error"] for e in doc["predictions_errors"]]
    assert any("unknown sample_id 'nope/K8/0'" in e for e in errs)
    assert any("needs sample_id" in e for e in errs) and any("not JSON" in e for e in errs)
    lines = [json.loads(x) for x in (run / "samples_mmlongbench.jsonl").read_text().splitlines()]
    assert len(lines) == len(preds)
    vh = [ln for ln in lines if ln["sample_id"].startswith("vh_single")]
    assert [ln["scores"]["default_answer"] for ln in vh] == [0, 1, 1, 0]


def test_missing_dataset_makes_averages_missing(mmlb, tmp_path):
    root, preds = mmlb
    task = MMLongBench(str(root), datasets="infoseek,NIAH")
    loaded = task.load([8])
    recs = [{"prediction": preds[s.id]} for s in loaded.samples]
    agg = task.aggregate(loaded.samples, task.score(loaded.samples, recs))
    assert agg["breakdowns"]["by_length"]["VRAG"]["8k"] is None  # viquae missing
    assert agg["breakdowns"]["by_length"]["NIAH"]["8k"] == pytest.approx(75.0)
    assert agg["scores"]["Avg@8k"] is None


def test_malformed_records_are_counted(tmp_path):
    data = tmp_path / "mmlb_data" / "vrag"
    data.mkdir(parents=True)
    good = {"id": "a", "question": "q", "image": "x.jpg", "answer": ["y"], "ctxs": []}
    (data / "infoseek_K8_dep3.jsonl").write_text(
        json.dumps(good) + "\nnot json\n" + json.dumps({"id": "b", "question": "q"}) + "\n"
    )
    loaded = MMLongBench(str(tmp_path), datasets="infoseek").load([8])
    assert [s.id for s in loaded.samples] == ["infoseek/K8/0"]
    assert len(loaded.errors) == 2
    assert any("malformed line" in e["error"] for e in loaded.errors)
    assert any("missing field" in e["error"] for e in loaded.errors)


def test_bad_arguments():
    with pytest.raises(ConfigError):
        MMLongBench("/nonexistent/dir")
    assert len(DATASETS) == 19
