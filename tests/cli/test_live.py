"""``vlmctx live``: questions at stream times and from stdin answered by toylab on the sample
video, with the frames (and timestamps) they were answered from; bad input is one line, exit 2."""

from __future__ import annotations

import io
import json

import pytest

from vlmctx.cli import main
from vlmctx.cli.live import Ask, parse_ask

Q = "What colour is the ball?"
# 2-frame chunks: these budgets are sized for them (toylab's own default is 16, docs/streaming.md)
BASE = [
    "live",
    "sample",
    "--model",
    "toylab",
    "--device",
    "cpu",
    "--max-new-tokens",
    "4",
    "--chunk-frames",
    "2",
]


def test_parse_ask() -> None:
    assert parse_ask("10s:What?") == Ask(10.0, "What?")
    assert parse_ask("1m30s: a:b ") == Ask(90.0, "a:b")
    assert parse_ask("90:q") == Ask(90.0, "q")
    assert parse_ask("1h:q").at_s == 3600.0
    for bad in ("q", "10s:", "x1s:q", "1.5.5s:q", "10 20:q"):
        with pytest.raises(Exception, match="TIME|time"):
            parse_ask(bad)


def test_asks_at_times_and_from_stdin(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(Q + "\n"))
    argv = [*BASE, "--budget", "22", "--retrieve-tokens", "8", "--json",
            "--ask-at", f"4s:{Q}", "--ask-at", f"1m:{Q}"]  # fmt: skip
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    timed = [r for r in records if r["asked_at_s"] is not None]
    typed = [r for r in records if r["asked_at_s"] is None]
    assert [r["asked_at_s"] for r in timed] == [4.0, 60.0] and len(typed) == 1
    assert timed[0]["answered_at_s"] == 5.0  # after the chunk (4 s, 5 s) that reaches 4 s
    assert timed[1]["answered_at_s"] == 11.0  # the stream ended at 11 s
    assert all(r["answer"] == "red" for r in records)
    last = timed[1]
    assert last["recent_s"] == [8.0, 9.0, 10.0, 11.0]  # the window: budget 22 - 6 sinks - 8
    frames = [t for r in last["retrieved"] for t in r["frames_s"]]
    assert frames and max(frames) < min(last["recent_s"])  # retrieved from offloaded memory
    assert last["context_tokens"] <= 22


def test_text_output(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main([*BASE, "--ask-at", f"2s:{Q}", "--chunk-frames", "4", "--unbounded"]) == 0
    out = capsys.readouterr().out
    assert f"[3.00s] Q: {Q}\n  A: red\n  recent frames: 0.00s 1.00s 2.00s 3.00s\n" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["live", "sample", "--ask-at", "soon:q"], "TIME:QUESTION"),
        (["live", "sample", "--fps", "0"], "positive number"),
        (["live", "sample", "--chunk-frames", "-1"], "positive integer"),
        (["live", "/no/such/clip.mp4", "--model", "toylab"], "not found"),
        ([*BASE, "--budget", "6", "--no-stdin"], "raise it"),
        (
            [
                "live",
                "tcp://127.0.0.1:1",
                "--model",
                "toylab",
                "--device",
                "cpu",
                "--no-stdin",
                "--stall-timeout",
                "2",
            ],
            "cannot open",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_host_budget_sends_offloaded_blocks_to_the_compact_tier(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    argv = [*BASE, "--budget", "22", "--retrieve-tokens", "8", "--json", "--host-budget",
            "1KiB", "--ask-at", f"1m:{Q}"]  # fmt: skip
    assert main(argv) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["retrieved"] and {r["tier"] for r in record["retrieved"]} == {"compact"}
    assert main([*BASE, "--host-budget", "lots"]) == 2
    assert "--host-budget" in capsys.readouterr().err
