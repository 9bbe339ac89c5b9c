"""Every shell command in README.md and docs/*.md is classified, and the offline ones run as written.

Issue 15, part 5: "every README/docs command runs as written". ``tests/docs_commands.py``
extracts the commands from the fenced code blocks; :data:`COMMANDS` below is the reviewed table:
each command either runs here (offline: the shipped toylab and far-shapes models, tiny-* models,
the bundled sample, generated clips, the architecture cards) or is skipped with the reason (a GPU,
a hub download, a dataset, a judge server, a camera, a cluster, a network install, or a run of
many minutes). A command added to the docs and missing from the table fails
:func:`test_every_doc_command_is_classified`, so nobody can add an unchecked one by accident; an
entry whose command left the docs fails it too.

A runnable command runs with ``bash -c`` exactly as the docs write it, in a fresh temporary folder
holding the files it names (``clip.mp4`` is a copy of the generated sample video, ``videomme.jsonl``
a two-question file in the documented format). Only documented placeholders are substituted
(``M``, "a model id", becomes the shipped ``toylab``). A command shown with its output under a
``$`` prompt must print every shown line, in order (the docs may leave lines out). Servers
(``vlmctx demo``) pass when they print their URL, then are stopped. Cheap commands run in the
default suite, the others are marked ``slow`` (``pytest -m slow tests/test_docs_commands.py``).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs_commands import DocCommand, all_commands, extract


@dataclass(frozen=True)
class Run:
    """Run it here. ``files``: fixtures to create in the working folder (see :data:`FIXTURES`);
    ``subs``: documented placeholders replaced (whole words); ``creates``: paths that must
    exist afterwards; ``stdout``: a pattern the output must match; ``last_part``: run only what
    follows the last ``&&`` (the steps before it install from the network); ``server``: a
    long-running server, passes once it prints ``ready``."""

    files: tuple[str, ...] = ()
    subs: tuple[tuple[str, str], ...] = ()
    creates: tuple[str, ...] = ()
    stdout: str | None = None
    last_part: bool = False
    slow: bool = True
    timeout: int = 900
    server: bool = False
    ready: str = r"http://127\.0\.0\.1:\d+"


@dataclass(frozen=True)
class Skip:
    """Not run here, and why."""

    reason: str


HUB = "downloads a real checkpoint from the Hugging Face hub ({}); no hub access here"
DEFAULT_HUB = HUB.format("the default model, Qwen/Qwen3-VL-2B-Instruct")
SYNOPSIS = "a usage synopsis ([...] marks optional parts, upper-case words are placeholders)"
M_TOYLAB = (("M", "toylab"),)
# requests to a running `vlmctx serve` (tests/serve/ sends these against a live server)
SERVE_REQUEST = "talks to a running `vlmctx serve` (tests/serve/ sends such requests to a live one)"  # `--model M`: "a model id" (docs/eval.md)

# normalized command text (as tests/docs_commands.py makes it) -> what to do with it
COMMANDS: dict[str, Run | Skip] = {
    # README.md
    'python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e ".[dev,eval,demo,decoders,serve]" && vlmctx ask sample "What colour is the ball?" --model toylab --fps 1': Run(  # noqa: E501
        last_part=True, stdout=r"(?m)^answer: red$", timeout=600
    ),
    "python -m pytest -q": Skip("the test suite itself (this test is part of it)"),
    'vlmctx ask sample "What colour is the ball?" --model toylab --frames 8 --json': Run(
        stdout=r'"text": "red"', timeout=600
    ),
    'vlmctx ask sample "What colour is the ball?" --model toylab --frames 64 --position vcwe --position-arg apply_to=visual --pooling progressive': Run(  # noqa: E501
        stdout=r"(?m)^answer: red$", timeout=600
    ),
    "vlmctx plan 1280x720@30m --model Qwen/Qwen2-VL-7B-Instruct --dtype bfloat16 --max-pixels 200704 --fit 24GiB,80GiB,141GiB": Run(  # noqa: E501
        slow=False, timeout=300
    ),
    'vlmctx live sample --model toylab --ask-at 4s:"What colour is the ball?"': Run(timeout=600),
    # docs/batch.md
    'vlmctx batch videos/ -o answers.jsonl -q "What happens in {name}?" -q "How many people appear?" --model Qwen/Qwen2-VL-2B-Instruct --frames 32 --max-new-tokens 128': Skip(  # noqa: E501
        HUB.format("Qwen/Qwen2-VL-2B-Instruct")
    ),
    "vlmctx batch items.csv -o answers.jsonl": Skip(DEFAULT_HUB),
    "accelerate launch --num_processes 4 -m vlmctx_pipelines.batch.cli items.jsonl -o answers.jsonl": Skip(  # noqa: E501
        "needs 4 GPUs (and the default model from the hub)"
    ),
    "accelerate launch --multi_gpu --num_processes 2 -m vlmctx_pipelines.batch.cli items.jsonl -o answers.jsonl --device cpu": Skip(  # noqa: E501
        DEFAULT_HUB
    ),
    'vlmctx batch videos/ -o answers.jsonl -q "What happens?" --engine ray': Skip(DEFAULT_HUB),
    "ray start --head --port=6379": Skip("starts a Ray cluster head (a cluster set-up step)"),
    "ray start --address=HEAD_IP:6379": Skip("joins a Ray cluster: needs a head node"),
    "export RAY_ADDRESS=HEAD_IP:6379": Skip("cluster set-up: needs a head node's address"),
    'vlmctx batch /shared/videos -o /shared/out/answers.jsonl -q "What happens?" --engine ray --model Qwen/Qwen3-VL-2B-Instruct --frames 64': Skip(  # noqa: E501
        "needs a Ray cluster with a shared file system and Qwen/Qwen3-VL-2B-Instruct from the hub"
    ),
    "vlmctx eval --model Qwen/Qwen3-VL-2B-Instruct --tasks videomme --engine ray --output-path /shared/eval_results": Skip(  # noqa: E501
        "needs a Ray cluster, the Video-MME release and Qwen/Qwen3-VL-2B-Instruct from the hub"
    ),
    "vlmctx eval --model Qwen/Qwen3-VL-2B-Instruct --tasks videomme --engine ray --ray-address HEAD_IP:6379 --ray-actors 4 --output-path /shared/eval_results": Skip(  # noqa: E501
        "needs a Ray cluster, the Video-MME release and Qwen/Qwen3-VL-2B-Instruct from the hub"
    ),
    # docs/demo.md
    "pip install -e '.[demo]'": Skip("installs packages from PyPI (network, build isolation)"),
    "vlmctx demo --model toylab": Run(server=True, timeout=600),
    "vlmctx demo --model Qwen/Qwen2-VL-2B-Instruct": Skip(HUB.format("Qwen/Qwen2-VL-2B-Instruct")),
    "vlmctx demo --model tiny-qwen2_vl --port 7861": Run(server=True, timeout=600),
    # docs/serve.md
    "pip install -e '.[serve]'": Skip("installs packages from PyPI (network, build isolation)"),
    "vlmctx serve --model toylab --allowed-media-dir . --port 8011": Run(
        files=("clip.mp4",), server=True, timeout=600
    ),
    'curl -s http://127.0.0.1:8011/v1/chat/completions -H "Content-Type: application/json" -d \'{"model": "toylab", "messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "clip.mp4"}}, {"type": "text", "text": "What colour is the ball?"}]}]}\'': Skip(  # noqa: E501
        SERVE_REQUEST
    ),
    'curl -sN http://127.0.0.1:8011/v1/chat/completions -H "Content-Type: application/json" -d \'{"model": "toylab", "stream": true, "frames": 32, "pooling": "progressive", "messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://media.example.com/clip.mp4"}}, {"type": "text", "text": "What happens?"}]}]}\'': Skip(  # noqa: E501
        SERVE_REQUEST + "; and a media host (https://media.example.com)"
    ),
    'printf \'{"model": "toylab", "messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,%s"}}, {"type": "text", "text": "What colour is the ball?"}]}]}\' "$(base64 -w0 clip.mp4)" > request.json': Run(  # noqa: E501
        files=("clip.mp4",), creates=("request.json",), slow=False, timeout=60
    ),
    'curl -s http://127.0.0.1:8011/v1/chat/completions -H "Content-Type: application/json" --data-binary @request.json': Skip(  # noqa: E501
        SERVE_REQUEST
    ),
    "python -m vlmctx_eval.bench.serve_load": Skip(
        "a benchmark run of minutes (400 requests on two models); results are committed"
    ),
    # docs/eval.md
    "vlmctx eval --model M --tasks T1,T2 [--task-arg TASK:KEY=VALUE ...] [--lengths 8k,16k,...] [--limit N | --limit-per-stratum K] [--seed S] [--output-path DIR] [--log-samples] [--config FILE.yaml] [--frames N | --fps F | --sampler ... --pooling ... --position ...] [--predictions FILE.jsonl] [--device cuda:0] [--no-progress] [--judge-url URL [--judge-model M] [--judge-for summ,docqa] [--judge-key-env VAR]]": Skip(  # noqa: E501
        SYNOPSIS
    ),
    "vlmctx report DIR [DIR ...] [--format md,csv,html] [--output OUT] [--no-plots]": Skip(
        SYNOPSIS
    ),
    "vlmctx eval --model Qwen/Qwen2-VL-2B-Instruct --tasks mmlongbench --task-arg mmlongbench:root=ROOT --lengths 8k,16k,32k --output-path runs": Skip(  # noqa: E501
        "needs the MMLongBench-Doc release (ROOT) and Qwen/Qwen2-VL-2B-Instruct from the hub"
    ),
    "vlmctx eval --model M --tasks mmlongbench --task-arg mmlongbench:root=ROOT --judge-url http://127.0.0.1:8000/v1 --judge-model gpt-4o-2024-11-20 [--judge-for summ,docqa]": Skip(  # noqa: E501
        "needs the MMLongBench release (ROOT) and an LLM judge server; [...] is optional syntax"
    ),
    "vlmctx eval --model M --tasks longvideo_mcq --task-arg longvideo_mcq:file=videomme.jsonl --frames 32": Run(  # noqa: E501
        files=("clip.mp4", "videomme.jsonl"), subs=M_TOYLAB, timeout=900
    ),
    "vlmctx eval --model M --tasks vniah --task-arg vniah:frames=32,64,128,256 --task-arg vniah:depths=0,0.25,0.5,0.75,1 --fps 1": Run(  # noqa: E501
        subs=M_TOYLAB, timeout=1800
    ),
    "vlmctx eval --model toylab --tasks toylab --task-arg toylab:frames=16,64,256 --task-arg toylab:per_cell=20 --fps 1": Run(  # noqa: E501
        timeout=1800
    ),
    "vlmctx eval --model Qwen/Qwen2.5-VL-7B-Instruct --preset qwen2.5-vl-videomme --task-arg videomme:root=/data/Video-MME [--task-arg videomme:subtitles=true]": Skip(  # noqa: E501
        "needs the Video-MME release, Qwen/Qwen2.5-VL-7B-Instruct from the hub and a GPU"
    ),
    "vlmctx eval --model M --tasks mlvu,longvideobench --task-arg mlvu:root=/data/MLVU --task-arg longvideobench:root=/data/LongVideoBench --frames 32 --limit 200": Skip(  # noqa: E501
        "needs the MLVU and LongVideoBench releases (/data/...)"
    ),
    "vlmctx eval --model M --tasks charades_sta --task-arg charades_sta:root=/data/charades --fps 1": Skip(  # noqa: E501
        "needs the Charades-STA release (/data/charades)"
    ),
    'vlmctx ask talk.mp4 "What does the speaker promise?" --subtitles talk.srt --subtitle-tokens 2000': Skip(  # noqa: E501
        DEFAULT_HUB + "; a real talk with subtitles to be meaningful"
    ),
    # docs/far.md
    "vlmctx generate --model far-shapes --context clip.mp4 --frames 256 --flexrope 0.1 -o out.gif": Run(  # noqa: E501
        files=("clip.mp4",), creates=("out.gif",), timeout=900
    ),
    "vlmctx generate --frames 64 --include-context -o demo.mp4": Run(creates=("demo.mp4",)),
    "vlmctx train-far --data synthetic-shapes -o runs/far --steps 2000": Skip(
        "a 2000-step training run (the shipped model's 4000 steps took 19 min, docs/far.md)"
    ),
    "vlmctx train-far --data path/to/video/folder -o runs/far-mine --preset cpu": Skip(
        "a training run of the default 1000 steps on the user's own videos"
    ),
    "vlmctx train-far --data synthetic-shapes -o far-shapes --preset cpu --steps 4000 --batch 16 --max-len 16 --lr 1e-3 --p-clean 0.25 --threads 2 --time-limit 19": Skip(  # noqa: E501
        "retrains the shipped far-shapes model: a 19-minute run"
    ),
    # docs/streaming.md
    "vlmctx live clip.mp4 --realtime --budget 4096": Skip(
        DEFAULT_HUB + "; then waits for typed questions"
    ),
    'vlmctx live rtsp://cam.local/stream --fps 0.5 --ask-at 1m:"What happened?" --json': Skip(
        "needs a network camera (RTSP) and the default model from the hub"
    ),
    # docs/toylab.md
    "vlmctx toylab train -o vlmctx/models/checkpoints/toylab": Skip(
        "re-ships the toylab checkpoint: a 16-minute training run (docs/toylab.md)"
    ),
    "vlmctx toylab run --seeds 0,1,2 --train-missing": Skip(
        "the full toy-lab experiment, about 60 min (docs/toylab.md)"
    ),
    "vlmctx toylab run --seeds 0": Skip("evaluates one seed over the whole grid: 14.6 min"),
    "python -m vlmctx_eval.experiments.toylab.stats --docs": Skip(
        "rewrites the tables in eval/bench/results and the claims blocks of README/docs in the "
        "checkout (a test must not write into the checkout)"
    ),
    "vlmctx toylab train --seed 0 --frame-pixels 2048 --rope-theta 100 --steps 300 --warmup 10 -o toylab_results/checkpoints/window_seed0": Skip(  # noqa: E501
        "trains the realistic-window variant: 2,158 s on the shared machine (docs/toylab.md)"
    ),
    "vlmctx toylab run --seeds 0 --checkpoints toylab_results/checkpoints/window_seed0 --schemes default,vcwe:apply_to=all,vcwe:apply_to=visual --pooling none --per-cell 20 --name toylab_window --results eval/bench/results": Skip(  # noqa: E501
        "needs the variant checkpoint the command above trains; writes into the checkout"
    ),
    # docs/eval.md: MLVU generation and subtitle placement
    "vlmctx eval --model M --tasks mlvu_gen --task-arg mlvu_gen:root=/data/MLVU --frames 32 --judge-url https://api.openai.com/v1 [--judge-model gpt-4-turbo]": Skip(  # noqa: E501
        "needs the MLVU release (/data/MLVU) and an OpenAI judge (network, API key)"
    ),
    "vlmctx eval --tasks mlvu_gen --task-arg mlvu_gen:root=/data/MLVU --predictions preds.jsonl --judge-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-72B-Instruct": Skip(  # noqa: E501
        "needs the MLVU release (/data/MLVU) and a judge server at 127.0.0.1:8000"
    ),
    'vlmctx ask talk.mp4 "What does the speaker promise?" --subtitles talk.srt --subtitles-placement before': Skip(  # noqa: E501
        DEFAULT_HUB + "; a real talk with subtitles to be meaningful"
    ),
}


# ---- fixtures: files the docs' commands name, made in the working folder -----------------------
def _clip(cwd: Path) -> None:
    from vlmctx.runtime.assets import sample_video

    shutil.copyfile(sample_video(), cwd / "clip.mp4")


def _videomme_jsonl(cwd: Path) -> None:
    """Two questions in the Video-MME field names docs/eval.md lists for ``longvideo_mcq``."""
    rows = [
        {"question_id": "q1", "video_path": "clip.mp4", "question": "What colour is the ball?",
         "options": ["A. red", "B. green", "C. blue", "D. yellow"], "answer": "A",
         "duration": 12},
        {"question_id": "q2", "video_path": "clip.mp4", "question": "What shape appears?",
         "options": ["A. circle", "B. square", "C. star", "D. none"], "answer": "B",
         "duration": 12},
    ]  # fmt: skip
    (cwd / "videomme.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


FIXTURES = {"clip.mp4": _clip, "videomme.jsonl": _videomme_jsonl}


# ---- the table is complete and current -----------------------------------------------------------
def _documented() -> dict[str, list[DocCommand]]:
    out: dict[str, list[DocCommand]] = {}
    for c in all_commands():
        out.setdefault(c.text, []).append(c)
    return out


def test_every_doc_command_is_classified() -> None:
    documented = _documented()
    new = [f"{v[0].where()}: {k}" for k, v in documented.items() if k not in COMMANDS]
    gone = [k for k in COMMANDS if k not in documented]
    assert not new, (
        "commands in the docs with no entry in COMMANDS (run or skip, with a reason):\n"
        + ("\n".join(new))
    )
    assert not gone, f"COMMANDS entries no longer in the docs: {gone}"
    assert all(isinstance(v, Run) or v.reason for v in COMMANDS.values())
    assert all(f in FIXTURES for v in COMMANDS.values() if isinstance(v, Run) for f in v.files)


def test_extraction_rules(tmp_path: Path) -> None:
    """Continuations, comments, prompts with output, usage wrapping; Python and JSON ignored."""
    md = tmp_path / "x.md"
    md.write_text(
        "```bash\n# a comment line\nvlmctx ask a.mp4 'Q # not a comment' \\\n"
        "    --fps 1   # a comment\npip install x\n```\n\n"
        '```python\nvlmctx = 1\n```\n\n```\n{"video": "a.mp4"}\n```\n\n'
        "```\n$ vlmctx plan x --fit 1GiB\nline one\nline two\n```\n\n"
        "```\nvlmctx eval --model M [--limit N]\n    [--fps F]\nvlmctx report DIR\n```\n"
    )
    got = [(c.text, c.line, c.output) for c in extract(md, tmp_path)]
    assert got == [
        ("vlmctx ask a.mp4 'Q # not a comment' --fps 1", 3, None),
        ("pip install x", 5, None),
        ("vlmctx plan x --fit 1GiB", 17, "line one\nline two"),
        ("vlmctx eval --model M [--limit N] [--fps F]", 23, None),
        ("vlmctx report DIR", 25, None),
    ]


# ---- running them ----------------------------------------------------------------------------
def _substitute(text: str, subs: tuple[tuple[str, str], ...]) -> str:
    for old, new in subs:
        text = re.sub(rf"(?<![\w/.-]){re.escape(old)}(?![\w/.-])", new, text)
    return text


def _env() -> dict[str, str]:
    """This interpreter's environment (offline hub, test cache) with its bin folder first, so
    ``vlmctx`` and ``python`` are the ones under test."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_server(argv: list[str], cwd: Path, spec: Run) -> tuple[bool, str]:
    """Start a server, wait until its output matches ``spec.ready``, stop it."""
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out, deadline = b"", time.monotonic() + spec.timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=1.0):
                out += os.read(proc.stdout.fileno(), 65536)
                if re.search(spec.ready, out.decode(errors="replace")):
                    return True, out.decode(errors="replace")
        return False, out.decode(errors="replace")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _check_output(shown: str, printed: str) -> None:
    """Every line the docs show appears in the printed output, in order."""
    lines = iter(ln.rstrip() for ln in printed.splitlines())
    for want in shown.splitlines():
        assert any(ln == want.rstrip() for ln in lines), f"the docs show {want!r}; not printed"


def _cases() -> list:
    documented = _documented()
    cases = []
    for text, spec in COMMANDS.items():
        if isinstance(spec, Run) and text in documented:
            # where a command appears twice, run the place that shows the most output
            doc = max(documented[text], key=lambda d: len(d.output or ""))
            marks = [pytest.mark.slow] if spec.slow else []
            cases.append(pytest.param(doc, spec, id=f"{doc.where()}", marks=marks))
    return cases


@pytest.mark.parametrize(("doc", "spec"), _cases())
def test_doc_command_runs_as_written(doc: DocCommand, spec: Run, tmp_path: Path) -> None:
    for name in spec.files:
        FIXTURES[name](tmp_path)
    command = _substitute(doc.text, spec.subs)
    if spec.last_part:
        command = command.rsplit("&&", 1)[1].strip()
    argv = ["bash", "-c", command]
    if spec.server:
        ok, out = _run_server(argv, tmp_path, spec)
        assert ok, f"`{command}` ({doc.where()}) never printed its URL:\n{out[-3000:]}"
        return
    done = subprocess.run(argv, cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=spec.timeout)  # fmt: skip
    assert done.returncode == 0, (
        f"`{command}` ({doc.where()}) exited {done.returncode}:\n{done.stderr[-3000:]}"
    )
    for path in spec.creates:
        assert (tmp_path / path).exists(), f"`{command}` did not create {path}"
    if spec.stdout:
        assert re.search(spec.stdout, done.stdout), f"`{command}` printed:\n{done.stdout[-3000:]}"
    if doc.output:
        _check_output(doc.output, done.stdout)
