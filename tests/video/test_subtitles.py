"""Subtitle parsing (.srt/.vtt/LongVideoBench JSON), cue selection at frame times, the token
budget, and `vlmctx ask --subtitles` end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmctx.cli import main
from vlmctx.errors import DataFormatError
from vlmctx.video.subtitles import (
    Cue,
    Subtitles,
    fit_max_tokens,
    parse_cues,
    parse_json_cues,
    read_subtitles,
    render,
    select_cues,
)

SRT = (
    '\ufeff1\r\n00:00:01,000 --> 00:00:03,500\r\n<font color="white" size=".72c">Hello'
    "</font>\r\n\r\n2\r\n00:00:05,250 --> 00:00:06,000\r\nsecond line\r\nwraps here\r\n\r\n"
    "3\r\n01:00:00,000 --> 01:00:01,000\r\nlate\r\n"
)
VTT = (
    "WEBVTT\n\nNOTE a comment\nspanning lines\n\ncue-a\n00:02.500 --> 00:04.000 align:start\n"
    "<v Anna>Hi <i>there</i>\n\n00:10.000 --> 00:11.000\nbye\n"
)


def test_srt_with_bom_crlf_tags_and_hours():
    cues = parse_cues(SRT)
    assert cues == [
        Cue(1.0, 3.5, "Hello"),
        Cue(5.25, 6.0, "second line wraps here"),
        Cue(3600.0, 3601.0, "late"),
    ]


def test_vtt_without_hours_with_settings_notes_and_voices():
    assert parse_cues(VTT) == [Cue(2.5, 4.0, "Hi there"), Cue(10.0, 11.0, "bye")]


@pytest.mark.parametrize(
    "text,needle",
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nx\n", "expected a timing line"),
        ("1\n00:00:xx,000 --> 00:00:02,000\nx\n", "bad cue timing"),
        ("1\n00:00:05,000 --> 00:00:02,000\nx\n", "ends before it starts"),
    ],
)
def test_malformed_cues_name_the_line(text, needle):
    with pytest.raises(DataFormatError, match=needle) as exc:
        parse_cues(text, "f.srt")
    assert "f.srt:" in str(exc.value)


def test_longvideobench_json_both_shapes(tmp_path: Path):
    a = parse_json_cues([{"start": "00:00:01.5", "end": "00:00:02.000", "line": "x"}])
    assert a == [Cue(1.5, 2.0, "x")]
    b = parse_json_cues([{"timestamp": [3.0, None], "text": "y"}])
    assert b[0].start_s == 3.0 and b[0].end_s == float("inf")
    f = tmp_path / "s_en.json"
    f.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataFormatError, match="cue 1 needs"):
        read_subtitles(f)
    with pytest.raises(DataFormatError, match="not found"):
        read_subtitles(tmp_path / "missing.srt")


def test_select_cues_at_frame_times():
    cues = [Cue(0, 2, "a"), Cue(2, 4, "b"), Cue(4.0, 4.2, "c"), Cue(9, 10, "d")]
    # frames at 1 s and 4.5 s: "a" contains 1; "b" is [2, 4) and misses; "c" [4, 4.2) misses
    assert [c.text for c in select_cues(cues, [1.0, 4.5])] == ["a"]
    # LongVideoBench widens short cues to 1 s around their midpoint: "c" -> [3.6, 4.6)
    assert [c.text for c in select_cues(cues, [1.0, 4.5], min_span_s=1.0)] == ["a", "c"]
    assert select_cues(cues, [2.0]) == [Cue(2, 4, "b")]  # half-open: a frame at 2 s is b's


def test_max_tokens_thins_evenly_over_time():
    cues = [Cue(i, i + 1, f"w{i}") for i in range(10)]
    words = lambda t: len(t.split())  # noqa: E731  ([t s] + word = 2 per line)
    assert fit_max_tokens(cues, None, words, True) == cues
    kept = fit_max_tokens(cues, 8, words, True)  # 4 lines of 2 words: indices 0, 3, 6, 9
    assert [c.text for c in kept] == ["w0", "w3", "w6", "w9"]
    assert fit_max_tokens(cues, 1, words, True) == []
    assert render(kept[:2]) == "[0.0s] w0\n[3.0s] w3"
    assert render(kept[:1], timestamps=False) == "w0"


def test_subtitles_track_offset_and_header(tmp_path: Path):
    f = tmp_path / "v.srt"
    f.write_text(SRT, encoding="utf-8")
    subs = Subtitles.load(str(f), offset_s=1.0)  # LongVideoBench's starting timestamp
    assert subs.cues[0] == Cue(0.0, 2.5, "Hello")
    text = subs.text([0.5, 4.5], lambda t: len(t.split()))
    assert text == (
        "Subtitles of the video (start time in seconds):\n"
        "[0.0s] Hello\n[4.2s] second line wraps here\n"
    )
    assert subs.text([100.0], len) == ""  # no cue at the frames: nothing added


def _ask(capsys, *extra: str) -> tuple[int, dict, str]:
    code = main(["ask", "sample", "What is said?", "--model", "tiny-qwen2_vl", "--frames", "4",
                 "--max-new-tokens", "1", "--json", *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else {}), err


def test_ask_with_subtitles_before_reaches_the_prompt(tmp_path: Path, capsys):
    # the sample video is 12 s; uniform 4 frames sit at 0, 3.67, 7.33, 11 s (approximately)
    f = tmp_path / "s.srt"
    f.write_text("1\n00:00:00,000 --> 00:00:02,000\nalpha beta gamma\n\n"
                 "2\n00:00:20,000 --> 00:00:21,000\nnever shown\n", encoding="utf-8")  # fmt: skip
    code, plain, err = _ask(capsys)
    assert code == 0, err
    code, subbed, err = _ask(capsys, "--subtitles", str(f), "--subtitles-placement", "before")
    assert code == 0, err
    from vlmctx.engine import VideoLM
    from vlmctx.models.contract import Loaded  # noqa: F401  (type of lm.loaded)

    lm = VideoLM.load("tiny-qwen2_vl")
    tok = lm.loaded.processor.tokenizer
    added = "Subtitles of the video (start time in seconds):\n[0.0s] alpha beta gamma\n"
    n_added = len(tok(added, add_special_tokens=False)["input_ids"])
    delta = subbed["total_tokens"] - plain["total_tokens"]
    assert abs(delta - n_added) <= 1  # a BPE merge at the boundary may differ by one


def test_ask_subtitle_errors_are_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 -> 00:00:02,000\nx\n", encoding="utf-8")
    for extra, needle in (
        (["--subtitles", str(bad)], "expected a timing line"),
        (["--subtitles", str(tmp_path / "none.srt")], "not found"),
        (["--subtitle-tokens", "5"], "needs --subtitles"),
    ):
        code, _, err = _ask(capsys, *extra)
        assert code != 0 and len(err.strip().splitlines()) == 1, err
        assert needle in err and "Traceback" not in err
