"""`vlmctx serve` on the command line: flags checked before the model loads (one line, exit 2),
and (slow) the real command: it listens on 127.0.0.1 by default, prints its URL, takes the key
from VLMCTX_API_KEY, streams to the openai client and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.conftest import KEY, QUESTION, free_port, video_message


def test_help_lists_the_security_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from vlmctx.cli import main

    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--allowed-media-dir", "--allowed-media-domains", "--api-key", "--max-media-mb",
                 "--max-body-mb", "--max-queue", "--max-memory", "--host"):  # fmt: skip
        assert flag in out, flag


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--allowed-media-dir", "/no/such/folder"],
            "--allowed-media-dir '/no/such/folder' is not",
        ),
        (["--allowed-media-domains", "http://a.com/x"], "host names"),
        (["--max-queue", "-1"], "--max-queue"),
        (["--pooling", "progresive"], "Did you mean 'progressive'"),
    ],
)
def test_bad_flags_fail_in_one_line_before_loading(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from vlmctx.cli import main

    assert main(["serve", "--model", "toylab", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_the_command_serves_the_openai_client_on_localhost(tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    from vlmctx.runtime.assets import sample_video

    shutil.copy(sample_video(), tmp_path / "clip.mp4")
    port = free_port()
    exe = str(Path(sys.executable).with_name("vlmctx"))
    proc = subprocess.Popen([exe, "serve", "--model", "toylab", "--device", "cpu", "--port",
                             str(port), "--allowed-media-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, VLMCTX_API_KEY=KEY))  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket listens
        assert f"toylab at http://127.0.0.1:{port}/v1" in line, line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
        chunks = client.chat.completions.create(model="toylab", stream=True,
                                                messages=video_message("clip.mp4", QUESTION))  # fmt: skip
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        bad = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="no", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
