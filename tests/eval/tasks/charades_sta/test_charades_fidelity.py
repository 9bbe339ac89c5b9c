"""Charades-STA ports (issue 26). Oracles: transcriptions of lmms-eval's ``extract_time`` and
``iou`` (EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
``lmms_eval/tasks/charades_sta/utils.py``) and TALL's ``calculate_IoU``
(jiyanggao/TALL@3df6794af1482f5b3d48022bc05e5a4ecfae0e5d ``main.py``)."""

from __future__ import annotations

import re

import pytest

from tests.eval.tasks.replies import lmms_eval_module, time_replies
from vlmctx_eval.tasks.charades_sta import official as cs


def _time_to_seconds(timestamp):
    parts = timestamp.split(":")
    if len(parts) == 3:
        hours, minutes, seconds = map(float, parts)
        return hours * 3600 + minutes * 60 + seconds
    minutes, seconds = map(float, parts)
    return minutes * 60 + seconds


def oracle_extract_time(paragraph):  # transcription
    prompt = "A specific example is : 20.8 - 30.0 seconds".lower()
    paragraph = paragraph.lower().replace(prompt, "").replace("to", "-")
    sentences = re.split(r"[!?\n]", paragraph)
    keywords = ["starts", "ends", "happens in", "start time", "end time", "start", "end", "happen"]
    candidates = [
        sentence for sentence in sentences if any(keyword in sentence for keyword in keywords)
    ]
    if not candidates:
        candidates = sentences
    timestamps = []
    time_format_range_pattern = re.compile(
        r"\b(\d{1,2}:\d{2}(?::\d{2})?)\s*[–-]\s*(\d{1,2}:\d{2}(?::\d{2})?)\b"
    )
    main_pattern = re.compile(r"(\d+(?:\.\d+)?)\s*[–-]\s*(\d+(?:\.\d+)?)")
    time_number_pattern = re.compile(r"\b(\d+(?:\.\d+)?)\b")
    time_format_pattern = re.compile(r"\b(\d{1,2}:\d{2}(?::\d{2})?)\b")
    fallback_pattern = re.compile(r"(\d+(?:\.\d+)?)\s*s?\s*[–-]\s*(\d+(?:\.\d+)?)\s*s?")
    for sentence in candidates:
        time_matches = time_format_range_pattern.findall(sentence)
        if time_matches:
            timestamps = [
                [_time_to_seconds(start), _time_to_seconds(end)] for start, end in time_matches
            ]
            break
    if not timestamps:
        for sentence in candidates:
            time_matches = main_pattern.findall(sentence)
            if time_matches:
                timestamps = [[float(start), float(end)] for start, end in time_matches]
                break
    if not timestamps:
        times = []
        for sentence in candidates:
            time = time_format_pattern.findall(sentence)
            if not time:
                continue
            times.extend(_time_to_seconds(timestamp) for timestamp in time)
        times = times[: len(times) // 2 * 2]
        timestamps = [(times[i], times[i + 1]) for i in range(0, len(times), 2)]
    if not timestamps:
        times = []
        for sentence in candidates:
            time = time_number_pattern.findall(sentence)
            if time:
                times.append(float(time[0]))
        times = times[: len(times) // 2 * 2]
        timestamps = [(times[i], times[i + 1]) for i in range(0, len(times), 2)]
    if not timestamps:
        for sentence in candidates:
            fallback_matches = fallback_pattern.findall(sentence)
            if fallback_matches:
                timestamps = [[float(start), float(end)] for start, end in fallback_matches]
                break
    results = []
    for start, end in timestamps[:1]:
        results.append([start, end] if end > start else [end, start])
    return results


def oracle_iou(a, b):  # lmms-eval iou, transcription
    max0 = max(a[0], b[0])
    min0 = min(a[0], b[0])
    max1 = max(a[1], b[1])
    min1 = min(a[1], b[1])
    denom = max1 - min0
    return 0.0 if denom <= 0 else max(min1 - max0, 0) / denom


def oracle_calculate_iou(i0, i1):  # TALL, transcription
    union = (min(i0[0], i1[0]), max(i0[1], i1[1]))
    inter = (max(i0[0], i1[0]), min(i0[1], i1[1]))
    return 1.0 * (inter[1] - inter[0]) / (union[1] - union[0])


CORPUS = time_replies(n=2400, seed=26)
GTS = [(0.0, 6.9), (12.5, 20.1), (24.3, 30.4)]


def test_corpus_is_varied():
    assert len(CORPUS) >= 2000
    assert any(re.search(r"\d\d:\d\d - \d\d:\d\d", r) for r in CORPUS)
    assert "" in CORPUS or any(not re.search(r"\d", r) for r in CORPUS)


def test_extract_time_agrees_on_corpus():
    bad = [
        r
        for r in CORPUS
        if [list(s) for s in cs.extract_time(r)] != [list(s) for s in oracle_extract_time(r)]
    ]
    assert not bad, f"{len(bad)}/{len(CORPUS)} disagree, e.g. {bad[:5]}"


def test_ious_agree_on_corpus():
    for r in CORPUS:
        spans = oracle_extract_time(r)
        for gt in GTS:
            got, bad = cs.span_iou(gt, r, "lmms-eval")
            want = oracle_iou(gt, spans[0]) if len(spans) == 1 else 0.0
            assert (got, bad) == (want, len(spans) != 1), r
            off, _ = cs.span_iou(gt, r, "official")
            if len(spans) == 1 and max(gt[1], spans[0][1]) - min(gt[0], spans[0][0]) > 0:
                tall = oracle_calculate_iou(gt, spans[0])
                assert off == max(tall, 0.0)
                assert all((off >= t) == (tall >= t) for t in cs.THRESHOLDS)


@pytest.mark.parametrize(
    ("reply", "span"),
    [
        ("00:16 - 00:23", [(16.0, 23.0)]),
        ("The event happens in the 24.3 - 30.4 seconds.", [(24.3, 30.4)]),
        ("In the 3 people scene, it starts at 5 and ends at 9.", []),  # one sentence, one number
        ("Start time: 5\nEnd time: 9", [(5.0, 9.0)]),
        ("from 9 to 5", [(5.0, 9.0)]),
        ("The person is cooking.", []),
        ("", []),
        ("0:01:05 to 0:01:10", [(65.0, 70.0)]),
    ],
)
def test_extract_time_hand_cases(reply, span):
    assert cs.extract_time(reply) == span


def test_metrics_hand_computed():
    ious = [1.0, 0.6, 0.4, 0.0]
    m = cs.metrics(ious)
    assert m["IOU@3"] == 75.0 and m["IOU@5"] == 50.0 and m["IOU@7"] == 25.0
    assert m["mIOU"] == pytest.approx(50.0)
    assert cs.metrics([])["mIOU"] is None


def test_annotation_line_and_prompt():
    assert cs.parse_line("AO8RW 0.0 6.9##a person is putting a book on a shelf.") == (
        "AO8RW",
        0.0,
        6.9,
        "a person is putting a book on a shelf.",
    )
    p = cs.prompt("person turn a light on")
    assert p.endswith(
        "textual sentence: person turn a light on. Please return its start time and end time."
    )


def test_against_lmms_eval_when_installed():
    utils = lmms_eval_module("lmms_eval.tasks.charades_sta.utils")
    for r in CORPUS:
        assert [list(s) for s in cs.extract_time(r)] == [list(s) for s in utils.extract_time(r)], r
