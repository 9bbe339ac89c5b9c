"""Video-MME ports against the rules as written (issue 26).

The oracle below is a statement-by-statement transcription of ``extract_characters_regex`` from
thanku-all/parse_answer@afd52cfe3dde5b3685e0d4f760c10c756860c758 ``eval_your_results.py`` (the
scoring script the Video-MME README links), kept apart from the port so that the corpus test
compares two independent writings of the same rule.
"""

from __future__ import annotations

import re

import pytest

from tests.eval.tasks.replies import lmms_eval_module, mcq_replies
from vlmctx_eval.tasks.videomme import official as vm


def oracle_extract(s):  # transcription of the official function, prefix list as written
    s = s.strip()
    # fmt: off
    answer_prefixes = [
        "The best answer is",
        "The correct answer is",
        "The answer is",
        "The answer",
        "The best option is" "The correct option is",  # noqa: ISC001 (the official missing comma)
        "Best answer:" "Best option:",  # noqa: ISC001 (idem)
        "Answer:",
        "Option:",
        "The correct answer",
        "The correct option",
    ]
    # fmt: on
    for answer_prefix in answer_prefixes:
        s = s.replace(answer_prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return ""
    matches = re.search(r"[ABCD]", s)
    if matches is None:
        return ""
    return matches[0]


CORPUS = mcq_replies("ABCD", n=2400, seed=26)


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 2000 and len(set(CORPUS)) == len(CORPUS)
    assert "" in CORPUS and any("\n" in r for r in CORPUS) and any("Ｂ" in r for r in CORPUS)


def test_official_extraction_agrees_on_corpus():
    bad = [
        (r, vm.official_extract(r), oracle_extract(r))
        for r in CORPUS
        if vm.official_extract(r) != oracle_extract(r)
    ]
    assert not bad, f"{len(bad)}/{len(CORPUS)} disagree, e.g. {bad[:5]}"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("C", "C"),
        ("Best answer: C", "B"),  # quirk 1: "Best answer:" is not removed, B of "Best" wins
        ("Best answer:Best option: C", "C"),  # the joined string is removed
        ("The best option is C", "C"),  # not removed, but "The best option is" has no A-D
        ("The answer is (b).", ""),  # lower case is no letter
        ("The answer is D", "D"),
        ("Dogs", "D"),  # a capital inside a word
        ("I cannot tell from the video.", ""),
        ("", ""),
        ("Answer: A. Because the Car is red", "A"),
        ("ABCD", "A"),
    ],
)
def test_official_extraction_hand_cases(reply, expected):
    assert vm.official_extract(reply) == expected
    assert oracle_extract(reply) == expected


def _row(duration, answer, got, task="Counting Problem"):
    return vm.Scored(duration, "Knowledge", "Humanity & History", task, answer, got)


def test_official_metric_leaves_unanswered_out():
    rows = [
        _row("short", "A", "A"),
        _row("short", "B", ""),
        _row("short", "C", "D"),
        _row("long", "D", "D"),
        _row("long", "A", ""),
    ]
    off = vm.accuracy(rows, "official")
    assert off["overall"] == pytest.approx(100 * 2 / 3)  # 2 right of 3 answered
    assert off["by_duration"] == {"short": 50.0, "long": 100.0}
    lm = vm.accuracy(rows, "lmms-eval")
    assert lm["overall"] == pytest.approx(100 * 2 / 5)  # every question counts
    assert off["unparsed"] == lm["unparsed"] == 2


def test_prompts_are_the_sources_wording():
    opts = ["A. Black.", "B. Gray.", "C. Green.", "D. Brown."]
    q = "What is the color of the clothing worn by the persons in the video?"
    assert vm.official_prompt(q, opts) == (  # the README's "Without subtitles" example
        "Select the best answer to the following multiple-choice question based on the video. "
        "Respond with only the letter (A, B, C, or D) of the correct option.\n"
        f"{q}\nA. Black.\nB. Gray.\nC. Green.\nD. Brown.\nThe best answer is:"
    )
    subs = vm.official_prompt(
        q, opts, "Hi guys, I'm going to show you how to perfectly prepare a ..."
    )
    assert subs.startswith("This video's subtitles are listed below:\nHi guys")
    assert "based on the video. Respond" in subs  # not lmms-eval's "and the subtitles"
    lm = vm.lmms_prompt(q, opts)
    assert "based on the video and the subtitles." in lm
    assert lm.endswith(
        "D. Brown.\n\nAnswer with the option's letter from the given choices directly."
    )


def test_results_template_with_trailing_commas_loads():
    text = '[{"video_id": "001", "questions": [{"answer": "C", "response": "C. a, b",},],},]'
    data = vm.loads_template(text)
    assert data[0]["questions"][0]["response"] == "C. a, b"
    assert vm.loads_template('["a,]", {"k": ",}"}]') == ["a,]", {"k": ",}"}]


def test_against_lmms_eval_when_installed():
    utils = lmms_eval_module("lmms_eval.tasks.videomme.utils")
    for r in CORPUS:
        assert vm.lmms_extract(r) == utils.extract_characters_regex(r), r


def test_template_as_released_is_read(tmp_path):
    from tests.eval.tasks.videomme.test_videomme_release import TEMPLATE
    from vlmctx_eval.tasks.videomme import release

    (tmp_path / "output_test_template.json").write_text(TEMPLATE)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "001.MP4").write_bytes(b"x")
    recs = release.read_records(str(tmp_path))
    assert len(recs) == 2 and recs[0]["videoID"] == "001" and recs[0]["answer"] == "C"
    assert release.find_video(str(tmp_path), "001").endswith("001.MP4")
    assert release.find_video(str(tmp_path), "002").endswith("002.mp4")  # reported missing later


def test_results_file_has_the_official_shape():
    rec = {
        "video_id": "001",
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "question_id": "001-1",
        "task_type": "Counting Problem",
        "question": "Q?",
        "options": ["A. a", "B. b"],
        "answer": "B",
        "response": "B. b",
        "videoID": "xyz",
    }
    out = vm.results_file([rec, {**rec, "question_id": "001-2", "response": ""}])
    assert len(out) == 1 and [q["question_id"] for q in out[0]["questions"]] == ["001-1", "001-2"]
    assert set(out[0]) == {"video_id", "duration", "domain", "sub_category", "questions"}
