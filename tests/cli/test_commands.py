"""`vlmctx ask | info | ls` end to end, and the bad-input list of the spine issue.

Every bad input must give one line on stderr that says what to do, a non-zero exit, and no
traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAMILIES
from tests.video import broken_files
from vlmctx.cli import main
from vlmctx.video.synthetic import clips


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("family", FAMILIES)
def test_ask_tiny_model_of_every_family(capsys: pytest.CaptureFixture[str], family: str) -> None:
    code, out, err = _run(
        capsys,
        "ask",
        "sample",
        "What colour is the ball?",
        "--model",
        f"tiny-{family}",
        "--frames",
        "4",
        "--max-new-tokens",
        "3",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert len(data["frames"]) == 4 and data["visual_tokens"] > 0
    assert data["config"]["sampler_params"] == {"n": 4}
    assert [round(t, 3) for _, t in data["frames"]] == [round(i / 30, 3) for i, _ in data["frames"]]


def test_ask_text_output_lists_frames_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "ask",
        "sample",
        "What happens?",
        "--model",
        "tiny-qwen2_vl",
        "--fps",
        "0.5",
        "--max-new-tokens",
        "2",
    )
    assert code == 0
    assert out.startswith("answer: ")
    assert "frames (6, backend" in out  # 12 s at 0.5 fps
    assert "visual tokens:" in out and "prefill" in out


def test_installed_console_script_runs_the_main_job() -> None:
    exe = Path(sys.executable).with_name("vlmctx")
    if not exe.exists():
        pytest.fail("the vlmctx console script is not installed in this environment")
    res = subprocess.run(
        [
            str(exe),
            "ask",
            "sample",
            "What colour is the ball?",
            "--model",
            "tiny-internvl",
            "--frames",
            "4",
            "--max-new-tokens",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert res.returncode == 0, res.stderr
    assert "answer:" in res.stdout and "visual tokens: 16" in res.stdout


def test_info_and_ls(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "info", "sample", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["frames"] == 360 and data["size"] == "320x240" and data["codec"] == "h264"
    assert data["backends"]["pyav"] == "ok"
    code, out, _ = _run(capsys, "ls")
    assert code == 0
    for name in ("uniform", "token_budget", "scene", "qwen2_5_vl", "tiny-internvl", "vcwe"):
        assert name in out


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    clip = clips.synth_clip(width=64, height=48, fps=10, num_frames=40, gop=10, bframes=2)
    truncated = broken_files.write_truncated(clip, tmp / "truncated.mp4", keep=0.3)
    audio = broken_files.write_audio_only(tmp / "audio.mp4")
    tiny = ["--model", "tiny-qwen2_vl"]
    return {
        "missing": (["ask", str(tmp / "nope.mp4"), "q", *tiny], "not found"),
        "directory": (["ask", str(tmp), "q", *tiny], "is a directory"),
        "empty": (["ask", str(empty), "q", *tiny], "empty"),
        "text": (["ask", str(text), "q", *tiny], "not a readable video"),
        "truncated": (["ask", str(truncated), "q", *tiny], "not a readable video"),
        "audio-only": (["ask", str(audio), "q", *tiny], "no video stream"),
        "zero frames": (
            ["ask", str(clip), "q", *tiny, "--sampler", "window", "--sampler-arg", "start_s=100"],
            "holds no frame",
        ),
        "offline id": (["ask", str(clip), "q", "--model", "Qwen/Qwen2-VL-2B-Instruct"], "tiny-"),
        "unknown sampler": (
            ["ask", str(clip), "q", *tiny, "--sampler", "unifrom"],
            "did you mean 'uniform'",
        ),
        "bad sampler arg": (["ask", str(clip), "q", *tiny, "--sampler-arg", "k=1"], "no parameter"),
    }


def test_bad_inputs_give_one_clear_line_and_nonzero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for label, (argv, needle) in _bad_inputs(tmp_path).items():
        code, out, err = _run(capsys, *argv)
        assert code != 0, label
        lines = err.strip().splitlines()
        assert len(lines) == 1, (label, err)
        assert lines[0].startswith("vlmctx ask: error: "), (label, err)
        assert "Traceback" not in err
        assert needle.lower() in lines[0].lower(), (label, lines[0])


def test_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    from vlmctx.errors import VideoNotFoundError

    with pytest.raises(VideoNotFoundError):
        main(["--debug", "ask", str(tmp_path / "nope.mp4"), "q", "--model", "tiny-qwen2_vl"])


def _register_ok(jobs) -> None:  # noqa: ANN001 - the group's subparsers
    jobs.add_parser("ok").set_defaults(func=lambda args: 0)


def test_a_command_group_gathers_entry_points_of_several_rooms(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vlmctx toylab train` comes from pipelines/, `vlmctx toylab run` from eval/; an entry point
    named `group.command` that cannot load shows as an unavailable command of its group."""
    from importlib.metadata import EntryPoint

    import vlmctx.cli as cli
    from vlmctx.cli import build_parser

    args = build_parser().parse_args(["toylab", "train", "--steps", "1"])
    assert args.func.__module__ == "vlmctx_pipelines.toylab.cli" and args.steps == 1
    args = build_parser().parse_args(["toylab", "run", "--frames", "8"])
    assert (
        args.func.__module__ == "vlmctx_eval.experiments.toylab.experiment" and args.frames == "8"
    )
    fake = [
        EntryPoint("grp.ok", "tests.cli.test_commands:_register_ok", "vlmctx.commands"),
        EntryPoint("grp.missing", "no_such_module_here:register", "vlmctx.commands"),
    ]
    monkeypatch.setattr(cli, "entry_points", lambda group: fake)
    assert _run(capsys, "grp", "ok")[0] == 0
    code, _, err = _run(capsys, "grp", "missing")
    assert code != 0 and "`vlmctx grp missing` cannot run" in err


def test_offline_hub_id_fails_fast_with_local_suggestions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hub access: a hub id (the default too) or a typo fails in one line, in well under 3 s,
    with a "did you mean" over the local names; no retries, no duplicated warnings."""
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = str(clips.synth_clip(width=64, height=48, fps=10, num_frames=40, gop=10))
    for model, needle in (("toylabb", "did you mean 'toylab'"),
                          ("Qwen/Qwen3-VL-2B-Instruct", "offline"),
                          ("tiny-qwen2vl", "did you mean 'tiny-qwen2_vl'")):  # fmt: skip
        t0 = time.perf_counter()
        code, _, err = _run(capsys, "ask", clip, "q", "--model", model)
        assert time.perf_counter() - t0 < 3.0, model
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert needle in err, err
    # a hub id with an architecture card is still planned offline
    code, out, err = _run(capsys, "plan", clip, "--model", "Qwen/Qwen2-VL-7B-Instruct")
    assert code == 0, err


def test_missing_extras_say_which_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vlmctx demo` without gradio and `vlmctx report` without matplotlib name the extra; the
    report still writes its tables."""
    from tests.eval.harness.report_fixture import make_two_runs

    _, (run, _) = make_two_runs(tmp_path)  # a run with strata and intervals: the report plots it
    (run / "report.md").unlink(missing_ok=True)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = _run(capsys, "report", str(run))
    assert code == 0, err
    assert "vlmctx[eval]" in err and "Traceback" not in err
    assert "| toylab |" in (run / "report.md").read_text()
    monkeypatch.setitem(sys.modules, "gradio", None)
    code, _, err = _run(capsys, "demo", "--model", "tiny-qwen2_vl")
    assert code == 2 and "pip install 'vlmctx[demo]'" in err, err


def test_report_skips_a_bad_run_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for d in (good, bad):
        d.mkdir()
    (good / "results.json").write_text(json.dumps({"model": "m", "results": {
        "t": {"scores": {"acc": 1.0}, "n_predicted": 1}}}))  # fmt: skip
    (bad / "results.json").write_text(json.dumps({"model": "m", "results": {"t": 5}}))
    code, out, err = _run(capsys, "report", str(tmp_path), "--no-plots")
    assert code == 0, err
    assert "skipped" in err and str(bad) in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "report.md").exists()


def test_ls_lists_eval_tasks_through_the_rooms_entry_point(capsys) -> None:
    """`vlmctx ls` shows the benchmark tasks (and their parameters) without the library importing
    the eval room: the room contributes a section through the `vlmctx.listings` entry point."""
    import json as _json

    from vlmctx.cli import main as _main

    assert _main(["ls", "--json"]) == 0
    out = _json.loads(capsys.readouterr().out)
    (section,) = [v for k, v in out.items() if k.startswith("eval tasks")]
    assert {"toylab", "videomme", "charades_sta"} <= set(section)
    assert "dir" in section["toylab"]["parameters"]
