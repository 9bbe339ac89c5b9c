"""MLVU generation tasks (`mlvu_gen`): fixtures in the release layout written here, a real local
OpenAI-compatible judge server with canned replies, scores computed by hand, malformed replies
counted as scoring errors, and the clear refusal without `--judge-url`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from tests.eval.judge_server import JudgeServer
from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.tasks.mlvu.generation import (
    SSC_RUBRIC,
    VS_RUBRIC,
    check_scores,
    parse_scores,
    scoring_points,
)

SSC_KEYS = ("score_accuracy", "score_relevance")
VS_KEYS = ("score_completeness", "score_reliability")


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def write_mlvu_gen(root: Path) -> None:
    """Two Sub-Scene Captioning and two Video Summarization records, in the release layout."""
    ssc = [
        {"video": "movie1.mp4", "duration": 200.0, "question": "What does the man do after "
         "entering?", "answer": "He opens the window.", "question_type": "sub_scene",
         "scoring_points": ["The man opens the window.", "He looks outside."]},
        {"video": "movie2.mp4", "duration": 1500.0, "question": "Describe the chase scene.",
         "answer": "A dog chases a cat.", "question_type": "sub_scene",
         "scoring_points": "A dog chases a cat."},
    ]  # fmt: skip
    vs = [
        {"video": "doc1.mp4", "duration": 100.0, "question": "Please summarize this video.",
         "answer": "Bees build a hive.", "question_type": "summary"},
        {"video": "doc2.mp4", "duration": 700.0, "question": "Please summarize this video.",
         "answer": "A storm passes.", "question_type": "summary"},
    ]  # fmt: skip
    for stem, recs in (("8_sub_scene", ssc), ("9_summary", vs)):
        (root / "json").mkdir(parents=True, exist_ok=True)
        (root / "json" / f"{stem}.json").write_text(json.dumps(recs), encoding="utf-8")
        for rec in recs:
            _touch(root / "video" / stem / rec["video"])


def canned(prompt: str) -> str | None:
    """Replies chosen by the answer under judgement (the last line of the user message)."""
    answer = prompt.rsplit("\n", 1)[-1]
    if "opens the window" in answer:  # JSON at the end, accuracy a mean over two points
        return 'Point 1: 5, point 2: 4. Relevant.\n{"score_accuracy": 4.5, "score_relevance": 5}'
    if "chases" in answer:  # the official single-quoted dict with total_score
        return "Partly right.\n{'score_accuracy': 3, 'score_relevance': 4, 'total_score': 7}"
    if "Bees" in answer:  # fenced block; an earlier mention of a key is overridden by the last
        return ('I first thought "score_completeness": 5 but no.\n```json\n'
                '{"score_completeness": 2, "score_reliability": 3}\n```')  # fmt: skip
    if "storm" in answer:
        return '{"score_completeness": 4, "score_reliability": 4}'
    return None


PREDS = {
    "8_sub_scene/0": "He opens the window and looks out.",
    "8_sub_scene/1": "A dog chases a cat around the yard.",
    "9_summary/0": "Bees build a hive in spring.",
}


def _eval(root: Path, preds: dict[str, str], tmp: Path, *extra: str) -> dict:
    out = tmp / "runs"
    argv = ["eval", "--tasks", "mlvu_gen", "--task-arg", f"mlvu_gen:root={root}", "--predictions",
            str(write_preds(tmp / "p.jsonl", preds)), "--output-path", str(out), "--no-progress",
            *extra]  # fmt: skip
    if not any("protocol=" in a for a in extra):  # these tests are about vlmctx's own protocol
        argv += ["--task-arg", "mlvu_gen:protocol=vlmctx"]
    assert cli(argv) == 0
    (f,) = list(out.rglob("results.json"))
    return json.loads(f.read_text())["results"]["mlvu_gen"]


# ---- reply parsing ---------------------------------------------------------------------------------
def test_parse_scores_takes_the_last_value_of_each_key_in_either_quote_style() -> None:
    assert parse_scores('{"score_accuracy": 4.5, "score_relevance": 5}', SSC_KEYS) == {
        "score_accuracy": 4.5, "score_relevance": 5.0}  # fmt: skip
    assert parse_scores("{'score_accuracy': 3, 'score_relevance': 4}", SSC_KEYS) == {
        "score_accuracy": 3.0, "score_relevance": 4.0}  # fmt: skip
    assert parse_scores('score_accuracy: 1 ... "score_accuracy": "2"', SSC_KEYS) == {
        "score_accuracy": 2.0}  # fmt: skip
    assert parse_scores("no scores here", SSC_KEYS) is None


def test_check_scores_wants_both_scores_within_1_to_5() -> None:
    assert check_scores({"score_accuracy": 1.0, "score_relevance": 5.0}, SSC_KEYS) == {
        "score_accuracy": 1.0, "score_relevance": 5.0}  # fmt: skip
    for bad in ({"score_accuracy": 3.0}, {"score_accuracy": 0.0, "score_relevance": 3.0},
                {"score_accuracy": 3.0, "score_relevance": 7.0}):  # fmt: skip
        with pytest.raises(ValueError):
            check_scores(bad, SSC_KEYS)
    assert scoring_points("one point") == ["one point"]
    with pytest.raises(DataFormatError):
        scoring_points([])


# ---- `vlmctx eval --tasks mlvu_gen --predictions` against the judge server --------------------------
def test_scores_by_hand_through_the_judge_server(tmp_path: Path) -> None:
    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    with JudgeServer(canned) as srv:
        res = _eval(root, PREDS, tmp_path, "--judge-url", srv.url)
    sc = res["scores"]
    # SSC: (4.5 + 5) and (3 + 4) -> mean 8.25 (accuracy 3.75, relevance 4.5); VS: 2 + 3 = 5 (the
    # second summary has no prediction: not scored); G-Avg = (8.25 + 5) / 2
    assert sc["judge_ssc"] == pytest.approx(8.25)
    assert sc["judge_ssc_accuracy"] == pytest.approx(3.75)
    assert sc["judge_ssc_relevance"] == pytest.approx(4.5)
    assert (sc["judge_vs"], sc["judge_vs_completeness"], sc["judge_vs_reliability"]) == (5, 2, 3)
    assert sc["judge_g_avg"] == pytest.approx(6.625) and res["primary"] == "judge_g_avg"
    assert res["breakdowns"]["by_bucket"] == {"sub_scene": {"medium": 9.5, "long": 7.0},
                                              "summary": {"short": 5.0}}  # fmt: skip
    assert res["n_predicted"] == 3 and res["n_samples"] == 4 and res["n_scoring_errors"] == 0
    assert res["n_scored"] == {"all": 3, "sub_scene": 2, "summary": 1}
    assert res["task"]["judge"]["model"] == "gpt-4-turbo"  # MLVU's scripts' judge by default
    assert res["task"]["judge"]["calls"] == 3
    # the protocol: rubric as system message, the case as user message, temperature 0
    bodies = [r["body"] for r in srv.requests]
    assert all(b["temperature"] == 0.0 and b["model"] == "gpt-4-turbo" for b in bodies)
    systems = [b["messages"][0]["content"] for b in bodies]
    assert systems == [SSC_RUBRIC, SSC_RUBRIC, VS_RUBRIC]
    first_case = bodies[0]["messages"][1]["content"]
    assert "Question: What does the man do after entering?" in first_case
    assert "1. The man opens the window.\n2. He looks outside." in first_case
    assert "Reference summary: Bees build a hive." in bodies[2]["messages"][1]["content"]


def test_malformed_replies_are_reasked_then_counted_as_scoring_errors(tmp_path: Path) -> None:
    root = tmp_path / "MLVU"
    write_mlvu_gen(root)

    def flaky(prompt: str) -> str | None:
        answer = prompt.rsplit("\n", 1)[-1]
        if "chases" in answer:
            return "I cannot tell."  # no scores at all: 3 tries, then a scoring error
        if "storm" in answer:
            return '{"score_completeness": 7, "score_reliability": 4}'  # 7 is off the scale
        return canned(prompt)

    preds = {**PREDS, "9_summary/1": "A storm passes over the town."}
    with JudgeServer(flaky) as srv:
        res = _eval(root, preds, tmp_path, "--judge-url", srv.url, "--judge-model", "local-j")
    errors = {e["sample_id"]: e["error"] for e in res["scoring_errors"]}
    assert res["n_scoring_errors"] == 2 and set(errors) == {"8_sub_scene/1", "9_summary/1"}
    assert "malformed after 3 tries" in errors["8_sub_scene/1"]
    assert "score_completeness 7.0 outside 1..5" in errors["9_summary/1"]
    judge = res["task"]["judge"]
    assert judge["model"] == "local-j" and judge["malformed_replies"] == 6
    assert judge["failed_samples"] == 2 and judge["calls"] == 8
    # the scored ones are unchanged: SSC 9.5 from the first answer, VS 5 from the first summary
    assert res["scores"]["judge_ssc"] == pytest.approx(9.5)
    assert res["scores"]["judge_g_avg"] == pytest.approx((9.5 + 5) / 2)


def test_without_judge_url_the_task_says_what_it_needs(tmp_path: Path, capsys) -> None:
    from vlmctx.cli import main

    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    with pytest.raises(ConfigError, match="mlvu_gen is scored by an LLM judge.*add --judge-url"):
        _eval(root, PREDS, tmp_path)
    argv = ["eval", "--tasks", "mlvu_gen", "--task-arg", f"mlvu_gen:root={root}", "--predictions",
            str(tmp_path / "p.jsonl"), "--output-path", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--judge-url" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").rglob("results.json"))


def test_judge_for_is_refused_when_only_mlvu_gen_runs(tmp_path: Path) -> None:
    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    with pytest.raises(ConfigError, match="--judge-for: none of the tasks"):
        _eval(root, PREDS, tmp_path, "--judge-url", "http://127.0.0.1:9/v1", "--judge-for", "summ")


def test_limit_takes_the_two_tasks_in_turn_and_listing_shows_the_task(tmp_path: Path, capsys):
    from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks

    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    load_builtin_tasks()
    task = TASKS.create("mlvu_gen", root=str(root), judge_url="http://127.0.0.1:9/v1")
    ids = [s.id for s in task.load(limit=2).samples]
    assert ids == ["8_sub_scene/0", "9_summary/0"]
    (s,) = [x for x in task.load().samples if x.id == "8_sub_scene/0"]
    assert s.question.startswith("Carefully watch this video") and s.max_new_tokens == 1000
    assert cli(["eval", "--tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "  mlvu_gen " in out and "judge_model='gpt-4-turbo'" in out
    from vlmctx.cli import main

    assert main(["ls", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (section,) = [v for k, v in listing.items() if k.startswith("eval tasks")]
    assert {"root", "judge_url", "judge_model", "max_new_tokens"} <= set(
        section["mlvu_gen"]["parameters"]
    )


def test_a_sub_scene_record_without_scoring_points_is_a_data_error(tmp_path: Path) -> None:
    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    path = root / "json" / "8_sub_scene.json"
    recs = json.loads(path.read_text())
    del recs[1]["scoring_points"]
    path.write_text(json.dumps(recs))
    with JudgeServer(canned) as srv:
        res = _eval(root, PREDS, tmp_path, "--judge-url", srv.url)
    assert res["n_data_errors"] == 1 and res["n_samples"] == 3
    assert "8_sub_scene.json#1" in res["data_errors"][0]["source"]
    assert "scoring_points" in res["data_errors"][0]["error"]
    assert res["scores"]["judge_ssc"] == pytest.approx(9.5)
