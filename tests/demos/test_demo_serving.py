"""Serving rules of `vlmctx demo` (issue 13, part 5): caps on the question and the answer
length, no public link unless --share (GRADIO_SHARE is ignored), the URL printed at start, and
the upload folder deleted on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.demos.conftest import TINY, free_port

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'vlmctx[demo]')")


def test_question_length_and_answer_length_are_capped() -> None:
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.assets import sample_video
    from vlmctx_demos.app import DemoApp

    app = DemoApp(VideoLM.load(TINY, device="cpu"), max_question_chars=20, max_new_tokens=4)
    video = str(sample_video())
    controls = app.controls(n_frames=4)
    with pytest.raises(gr.Error, match="--max-question-chars"):
        list(app.respond(video, "x" * 21, [], None, 2, *controls))
    with pytest.raises(gr.Error, match="between 1 and 4"):
        list(app.respond(video, "What happens?", [], None, 5, *controls))
    out = list(app.respond(video, "What happens?", [], None, 4, *controls))
    assert out[-1][0][-1]["role"] == "assistant"  # within the caps it answers


def test_demo_prints_its_url_never_shares_and_deletes_its_uploads(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, GRADIO_SHARE="True", TMPDIR=str(tmp_path))
    exe = str(Path(sys.executable).with_name("vlmctx"))
    proc = subprocess.Popen([exe, "demo", "--model", TINY, "--device", "cpu", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first line is the URL (blocks until it serves)
        assert f"http://127.0.0.1:{port}" in line, line
        assert "gradio.live" not in line
        folders = list(tmp_path.glob("vlmctx-demo-*"))
        assert len(folders) == 1  # its upload folder, in the temp dir
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    deadline = time.time() + 5
    while folders[0].exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not folders[0].exists()
