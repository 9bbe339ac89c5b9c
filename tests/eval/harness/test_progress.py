"""Progress in a log file is one line per update, never carriage-return redraws (issue 31)."""

from __future__ import annotations

import io

from vlmctx_eval.harness import progress as progress_mod
from vlmctx_eval.harness.progress import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gives_plain_lines(monkeypatch) -> None:
    clock = iter(float(t) for t in range(0, 1000, 20))  # 20 s per sample
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(clock))
    log = io.StringIO()
    assert list(progress(range(5), "toylab [rank 0]", stream=log)) == list(range(5))
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "toylab [rank 0]: 0/5 samples"
    assert lines[-1].startswith("toylab [rank 0]: 5/5 samples (100%), 20.00 s/sample")
    assert 3 <= len(lines) <= 5  # every ~30 s, not every sample
    assert "about" in lines[1] and "s left" in lines[1]


def test_a_terminal_gets_the_bar_and_disabled_prints_nothing() -> None:
    tty = Tty()
    assert list(progress(range(3), "vniah", stream=tty)) == [0, 1, 2]
    assert "\r" in tty.getvalue() and "3/3" in tty.getvalue()  # tqdm redraws in place
    quiet = io.StringIO()
    assert list(progress(range(3), "vniah", enabled=False, stream=quiet)) == [0, 1, 2]
    assert quiet.getvalue() == ""
