"""MMLongBench summarization LLM judge (fluency x F1) against a real local OpenAI-compatible
server with canned replies: parsing, the F1 arithmetic by hand, retries, malformed replies
(counted and reported), and `vlmctx eval --judge-url` end to end over fixture files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from tests.eval.judge_server import JudgeServer, kind
from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.tasks.common.judge import (
    OpenAIJudge,
    check_fluency,
    check_precision,
    check_recall,
    parse_last_json,
    strip_summary_prefix,
    summ_scores,
)

GOV_CLAIMS = ["GAO studied cats.", "Cats are fine.", "GAO recommends nothing.", "Dogs are fine."]
LEX_CLAIMS = ["Cats sued dogs.", "The case settled."]


def canned(prompt: str) -> str | None:
    """gov summary (mentions GAO): fluent, 3/4 key points, 2/2 sentences supported.
    lexsum summary: not fluent, 1/2 key points, 1/2 sentences supported."""
    gov = "GAO" in prompt.split("Model summary:")[-1] or "GAO studied" in prompt
    k = kind(prompt)
    if k == "fluency":
        return f'Coherent enough. {{"fluency": {1 if gov else 0}}}'
    if k == "recall":
        return 'Points 1, 2, 4 present.\n```json\n{"recall": 3}\n```' if gov else '{"recall": 1}'
    if k == "precision":
        return ('Both supported. Output: {"precision": 2, "sentence_count": 2}' if gov
                else '{"precision": 1, "sentence_count": 2}')  # fmt: skip
    return None


# ---- parsing and arithmetic ----------------------------------------------------------------------
def test_parse_last_json_takes_the_last_object_else_a_fenced_block() -> None:
    assert parse_last_json('e.g. {"fluency": 0} ... final {"fluency": 1}') == {"fluency": 1}
    assert parse_last_json('```json\n{"recall": 3}\n```') == {"recall": 3}
    assert parse_last_json("no json here") is None
    assert parse_last_json('{"recall": three}') is None


def test_summ_scores_by_hand() -> None:
    # recall 3/4 = .75, precision 2/2 = 1, F1 = 2 * .75 * 1 / 1.75 = 6/7
    s = summ_scores(1, 3, 4, 2, 2)
    assert s["judge_recall"] == 0.75 and s["judge_precision"] == 1.0
    assert s["judge_f1"] == pytest.approx(6 / 7) and s["judge_flu_f1"] == pytest.approx(6 / 7)
    # not fluent: F1 = 2 * .5 * .5 / 1 = .5 but flu_f1 = 0
    s = summ_scores(0, 1, 2, 1, 2)
    assert s["judge_f1"] == pytest.approx(0.5) and s["judge_flu_f1"] == 0.0
    assert summ_scores(1, 0, 4, 0, 3)["judge_f1"] == 0.0  # nothing found: no division by zero
    assert summ_scores(1, 0, 0, 1, 0)["judge_f1"] == 0.0  # no claims, no sentences -> 0 (official)


def test_reply_checks_reject_impossible_values() -> None:
    for bad in ({"fluency": 2}, {"fluency": "1"}, {"fluency": True}, {}):
        with pytest.raises(ValueError):
            check_fluency(bad)
    with pytest.raises(ValueError):
        check_recall({"recall": 5}, 4)
    with pytest.raises(ValueError):
        check_precision({"precision": 3, "sentence_count": 2})
    assert check_recall({"recall": 4}, 4) == {"recall": 4.0}
    assert strip_summary_prefix("Summary: Cats.") == "Cats."
    assert strip_summary_prefix("Summary:Summary: Cats.") == "Summary: Cats."  # stripped once


# ---- the client against a real server ------------------------------------------------------------
def test_summarization_through_the_server_with_settings_of_the_official_script() -> None:
    with JudgeServer(canned) as srv:
        judge = OpenAIJudge(srv.url, "judge-x", backoff=0.0)
        out = judge.summarization("Summary: GAO studied cats. Cats are fine.", "expert", GOV_CLAIMS)
    assert out["judge_flu_f1"] == pytest.approx(6 / 7)
    assert out["judge_recall_found"] == 3 and out["judge_n_claims"] == 4
    bodies = [r["body"] for r in srv.requests]
    assert [kind(b["messages"][0]["content"]) for b in bodies] == ["fluency", "recall", "precision"]
    assert all(b["temperature"] == 0.1 and b["max_tokens"] == 4096 and b["model"] == "judge-x"
               for b in bodies)  # fmt: skip
    assert "1. GAO studied cats.\n2. Cats are fine." in bodies[1]["messages"][0]["content"]
    assert 'Text: "GAO studied cats. Cats are fine."' in bodies[0]["messages"][0]["content"]
    assert judge.stats.to_dict() == {"calls": 3, "http_retries": 0, "malformed_replies": 0,
                                     "failed_samples": 0}  # fmt: skip


def test_http_errors_are_retried_and_counted(monkeypatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test")
    with JudgeServer(canned, fail_first=2) as srv:
        judge = OpenAIJudge(srv.url, "m", api_key_env="MY_JUDGE_KEY", backoff=0.0)
        out = judge.summarization("GAO studied cats.", "expert", GOV_CLAIMS)
    assert out["judge_flu_f1"] == pytest.approx(6 / 7)
    assert judge.stats.http_retries == 2 and judge.stats.calls == 5
    assert srv.requests[0]["auth"] == "Bearer sk-test"


def test_unreachable_judge_fails_with_a_hint() -> None:
    with JudgeServer(lambda p: None) as srv:
        judge = OpenAIJudge(srv.url, "m", backoff=0.0)
        with pytest.raises(ConfigError, match="--judge-url"):
            judge.complete("hi", retries=2)
    assert judge.stats.calls == 2 and judge.stats.http_retries == 1


def test_malformed_replies_are_reasked_then_reported() -> None:
    seen: list[str] = []

    def flaky(prompt: str) -> str | None:
        seen.append(kind(prompt))
        if kind(prompt) == "fluency" and seen.count("fluency") == 1:
            return "I think it is fluent."  # no JSON: re-asked
        if kind(prompt) == "recall":
            return '{"recall": 9}'  # more than the 4 key points: always malformed
        return canned(prompt)

    with JudgeServer(flaky) as srv:
        judge = OpenAIJudge(srv.url, "m", backoff=0.0, parse_retries=2)
        with pytest.raises(DataFormatError, match="recall 9.0 outside 0..4"):
            judge.summarization("GAO studied cats.", "expert", GOV_CLAIMS)
    # fluency: 1 malformed + 1 good; recall: 3 malformed (1 + 2 re-asks); precision never asked
    assert seen == ["fluency", "fluency", "recall", "recall", "recall"]
    assert judge.stats.malformed_replies == 4 and judge.stats.failed_samples == 1


# ---- `vlmctx eval --judge-url` end to end --------------------------------------------------------
def _claims(root: Path, gov_ids: tuple[str, ...] = ("g1",)) -> None:
    summ = root / "mmlb_data" / "summ"
    (summ / "gov_claims.jsonl").write_text(
        "".join(json.dumps({"id": i, "claims": GOV_CLAIMS}) + "\n" for i in gov_ids)
    )
    (summ / "lexsum_claims.jsonl").write_text(json.dumps({"id": "l1", "claims": LEX_CLAIMS}) + "\n")


def _rescore(
    root: Path,
    preds: dict[str, str],
    tmp: Path,
    url: str,
    *extra: str,
    nothing_scored: bool = False,
) -> dict:
    pf = write_preds(tmp / "preds.jsonl", preds)
    out = tmp / "runs"
    argv = ["eval", "--tasks", "mmlongbench", "--predictions", str(pf),
            "--task-arg", f"mmlongbench:root={root}", "--task-arg", "mmlongbench:datasets=Summ",
            "--output-path", str(out), "--no-progress", "--judge-url", url,
            "--judge-model", "judge-x", *extra]  # fmt: skip
    if nothing_scored:  # one line, exit 2 in the CLI (never n/a with exit 0); results.json kept
        with pytest.raises(DataFormatError, match="no score could be computed"):
            cli(argv)
    else:
        assert cli(argv) == 0
    [res] = list(out.rglob("results.json"))
    return json.loads(res.read_text())["results"]["mmlongbench"]


def test_eval_with_judge_url_scores_summarization_by_the_judge(mmlb, tmp_path: Path) -> None:
    root, preds = mmlb
    _claims(root)
    summ_preds = {k: v for k, v in preds.items() if k.startswith(("gov-report", "multi-lexsum"))}
    with JudgeServer(canned) as srv:
        res = _rescore(root, summ_preds, tmp_path, srv.url)
    # gov 6/7 x 100; lexsum fluency 0 -> 0; Summ = mean
    assert res["breakdowns"]["datasets"]["gov-report"]["8k"] == pytest.approx(600 / 7)
    assert res["breakdowns"]["datasets"]["multi-lexsum"]["8k"] == 0.0
    assert res["scores"]["Summ@8k"] == pytest.approx(300 / 7)
    assert res["metrics"] == {"gov-report": "judge_flu_f1", "multi-lexsum": "judge_flu_f1"}
    assert res["task"]["summ_metric"].startswith("judge_flu_f1")
    assert res["task"]["judge"]["model"] == "judge-x" and res["task"]["judge"]["calls"] == 6
    assert res["n_scoring_errors"] == 0
    assert len(srv.requests) == 6


def test_eval_without_judge_keeps_rouge_and_says_so(mmlb, tmp_path: Path) -> None:
    root, preds = mmlb
    pf = write_preds(tmp_path / "p.jsonl", preds)
    argv = ["eval", "--tasks", "mmlongbench", "--predictions", str(pf), "--task-arg",
            f"mmlongbench:root={root}", "--output-path", str(tmp_path / "r"), "--no-progress"]  # fmt: skip
    assert cli(argv) == 0
    [f] = list((tmp_path / "r").rglob("results.json"))
    res = json.loads(f.read_text())["results"]["mmlongbench"]
    assert res["metrics"]["gov-report"] == "rougeLsum_f1" and res["task"]["judge"] is None
    assert res["scores"]["Summ@8k"] == pytest.approx(87.5)  # the ROUGE fixture values


def test_judge_failures_are_counted_not_dropped(mmlb, tmp_path: Path) -> None:
    root, preds = mmlb
    _claims(root, gov_ids=("other",))  # gov-report's g1 has no key points -> scoring error

    def lexsum_garbage(prompt: str) -> str | None:
        return "no idea" if kind(prompt) == "fluency" else canned(prompt)

    summ_preds = {k: v for k, v in preds.items() if k.startswith(("gov-report", "multi-lexsum"))}
    with JudgeServer(lexsum_garbage) as srv:
        res = _rescore(root, summ_preds, tmp_path, srv.url, nothing_scored=True)
    errors = {e["sample_id"]: e["error"] for e in res["scoring_errors"]}
    assert res["n_scoring_errors"] == 2
    assert "no judge key points for id 'g1'" in errors["gov-report/K8/0"]
    assert "judge reply malformed after 3 tries" in errors["multi-lexsum/K8/0"]
    assert res["task"]["judge"]["failed_samples"] == 2
    assert res["task"]["judge"]["malformed_replies"] == 3
    assert res["scores"] == {} and res["n_scored"] == {}  # nothing judged: no cell, no average
    assert len(srv.requests) == 3  # the sample without key points never reached the judge
    lines = [json.loads(x) for x in next(tmp_path.rglob("samples_mmlongbench.jsonl")).open()]
    assert all("rougeLsum_f1" in ln["scores"] for ln in lines)  # ROUGE kept for reference


def test_missing_claims_file_fails_before_any_model_runs(mmlb, tmp_path: Path) -> None:
    root, preds = mmlb
    for f in (root / "mmlb_data" / "summ").glob("*_claims.jsonl"):
        f.unlink()
    with JudgeServer(canned) as srv, pytest.raises(ConfigError, match="gov_claims.jsonl"):
        _rescore(root, {"gov-report/K8/0": "x"}, tmp_path, srv.url)


def test_judge_flag_that_no_task_uses_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text("")  # --predictions must name an existing file
    with pytest.raises(ConfigError, match="--judge-url"):
        cli(["eval", "--tasks", "vniah", "--predictions", str(tmp_path / "p.jsonl"),
             "--task-arg", f"vniah:dir={tmp_path}", "--judge-url", "http://127.0.0.1:9/v1"])  # fmt: skip


def test_tiny_model_run_with_judge_url_end_to_end(mmlb, tmp_path: Path) -> None:
    """A real tiny model writes the summaries (continuing the `Summary:` assistant prefix); the
    local judge scores them; the results say which metric and judge were used."""
    root, _ = mmlb
    _claims(root)
    out = tmp_path / "runs"
    with JudgeServer(canned) as srv:
        argv = ["eval", "--model", "tiny-qwen2_vl", "--tasks", "mmlongbench",
                "--task-arg", f"mmlongbench:root={root}", "--task-arg", "mmlongbench:datasets=Summ",
                "--output-path", str(out), "--no-progress", "--judge-url", srv.url]  # fmt: skip
        assert cli(argv) == 0
    [f] = list(out.rglob("results.json"))
    res = json.loads(f.read_text())["results"]["mmlongbench"]
    assert res["n_predicted"] == 2 and res["n_scoring_errors"] == 0
    assert res["metrics"] == {"gov-report": "judge_flu_f1", "multi-lexsum": "judge_flu_f1"}
    assert res["task"]["judge"]["model"] == "gpt-4o-2024-11-20"  # the paper's judge by default
    assert len(srv.requests) == 6 and res["scores"]["Summ@8k"] is not None
    preds = [json.loads(x) for p in f.parent.rglob("rank0.jsonl") for x in p.open()]
    assert {p["assistant_prefix"] for p in preds} == {"Summary:"}
    lines = [json.loads(x) for x in (f.parent / "samples_mmlongbench.jsonl").open()]
    assert all({"judge_flu_f1", "rougeLsum_f1"} <= set(ln["scores"]) for ln in lines)
    assert all(ln["input"]["assistant_prefix"] == "Summary:" for ln in lines)
