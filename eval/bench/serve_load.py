"""Benchmark: ``vlmctx serve`` under load from real ``openai`` clients, on loopback only.

For each setup a fresh ``vlmctx serve`` process is started on a free 127.0.0.1 port (nothing else
is contacted); each question is first asked once, sequentially (the reference answers, and the
warm-up); then a fixed number of streamed requests (default 200) go out from a fixed number of
concurrent clients (default 8, one ``openai.OpenAI`` each), cycling over the questions. Recorded
per request on the client: latency (request sent -> ``[DONE]``), time to first token (request
sent -> first chunk with text), the response id and the answer; after each answer, the server
process's RSS (``/proc/PID/status``). Reported: throughput, p50/p95/p99 of latency and TTFT,
lost responses (a request without a complete answer) and duplicated ones (a response id seen
twice), whether every answer equals the sequential one for its question, the server's own count
of 200 responses (``/metrics``) against the client's, and RSS in the first vs the last quarter of
the run (flat memory: no per-request leak). Setups: the shipped ``toylab`` on the sample video
(16 frames), and ``tiny-qwen2_vl`` (random weights) with 64 frames per request. The same video is
asked about throughout, so decoded frames come from the engine's frames cache after the first
request: the figures are the server's and the model's, not the decoder's. Prefix reuse (issue 28)
is not in the engine measured here: ``prefix_cache`` is null.

    python -m vlmctx_eval.bench.serve_load                      # both setups, 200 x 8
    python -m vlmctx_eval.bench.serve_load --requests 40 --setups toylab   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
KEY = "bench-key"
QUESTIONS = ["What colour is the ball?", "What shape is the object?", "Where is the ball?",
             "What happens in the video?"]  # fmt: skip
SETUPS = {
    "toylab": {"model": "toylab", "extra": {}, "max_tokens": 16},
    "tiny-64": {"model": "tiny-qwen2_vl", "extra": {"frames": 64}, "max_tokens": 16},
}
REQUEST_TIMEOUT_S = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start_server(model: str, media_dir: str) -> tuple[subprocess.Popen, str]:
    """``vlmctx serve`` on a free loopback port; returns the process and its /v1 URL."""
    port = free_port()
    exe = str(Path(sys.executable).with_name("vlmctx"))
    cmd = [exe, "serve", "--model", model, "--device", "cpu", "--host", "127.0.0.1", "--port",
           str(port), "--allowed-media-dir", media_dir, "--max-queue", "16", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, VLMCTX_API_KEY=KEY))  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if f"127.0.0.1:{port}" not in line:
        proc.kill()
        raise RuntimeError(f"vlmctx serve did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, f"http://127.0.0.1:{port}/v1"


def one_request(client: Any, model: str, question: str, setup: dict) -> dict[str, Any]:
    """One streamed request; what the client saw."""
    msgs = [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "clip.mp4"}},
                                         {"type": "text", "text": question}]}]  # fmt: skip
    t0 = time.perf_counter()
    first, ids, parts, finish = None, set(), [], None
    try:
        stream = client.chat.completions.create(model=model, messages=msgs, stream=True,
                                                max_tokens=setup["max_tokens"],
                                                extra_body=setup["extra"])  # fmt: skip
        for chunk in stream:
            ids.add(chunk.id)
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
                parts.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        error = None
    except Exception as exc:  # a lost response, counted as such
        error = f"{type(exc).__name__}: {exc}"[:300]
    end = time.perf_counter()
    return {"question": question, "latency_s": end - t0, "ttft_s": (first or end) - t0,
            "ids": sorted(ids), "text": "".join(parts).strip(), "finish": finish, "error": error}  # fmt: skip


def load(url: str, pid: int, setup: dict, requests: int, clients: int) -> list[dict[str, Any]]:
    """``requests`` streamed requests from ``clients`` concurrent openai clients."""
    import openai

    todo = list(range(requests))
    lock = threading.Lock()
    done: list[dict[str, Any]] = []

    def worker() -> None:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=REQUEST_TIMEOUT_S)
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            rec = one_request(client, setup["model"], QUESTIONS[i % len(QUESTIONS)], setup)
            rec["index"] = i
            rec["rss_bytes"] = rss_bytes(pid)
            with lock:
                rec["order"] = len(done)
                done.append(rec)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def pct(values: list[float], q: float) -> float:
    return (
        float(statistics.quantiles(values, n=100, method="inclusive")[q - 1])
        if len(values) > 1
        else values[0]
    )


def server_200s(url: str) -> float:
    import httpx

    text = httpx.get(
        url.removesuffix("/v1") + "/metrics", headers={"Authorization": f"Bearer {KEY}"}
    ).text
    for line in text.splitlines():
        if line.startswith('vlmctx_requests_total{path="/v1/chat/completions",status="200"}'):
            return float(line.split()[-1])
    return 0.0


def run_setup(name: str, requests: int, clients: int, media_dir: str) -> dict[str, Any]:
    import openai

    setup = SETUPS[name]
    proc, url = start_server(setup["model"], media_dir)
    try:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=REQUEST_TIMEOUT_S)
        reference = {q: one_request(client, setup["model"], q, setup)["text"] for q in QUESTIONS}
        t0 = time.perf_counter()
        recs = load(url, proc.pid, setup, requests, clients)
        wall = time.perf_counter() - t0
        served = server_200s(url)
    finally:
        proc.terminate()
        proc.wait(60)
    return summarize(name, setup, recs, wall, reference, served, requests, clients)


def summarize(name: str, setup: dict, recs: list[dict], wall: float, reference: dict,
              served: float, requests: int, clients: int) -> dict[str, Any]:  # fmt: skip
    ok = [r for r in recs if r["error"] is None and r["finish"] is not None]
    ids = [i for r in recs for i in r["ids"]]
    lat = [r["latency_s"] for r in ok]
    ttft = [r["ttft_s"] for r in ok]
    by_order = sorted(recs, key=lambda r: r["order"])
    quarter = max(len(by_order) // 4, 1)
    rss_first = statistics.mean(r["rss_bytes"] for r in by_order[:quarter])
    rss_last = statistics.mean(r["rss_bytes"] for r in by_order[-quarter:])
    return {
        "setup": name, "model": setup["model"], "frames_per_request": setup["extra"].get("frames", 16),
        "max_tokens": setup["max_tokens"], "requests": requests, "clients": clients,
        "completed": len(ok), "lost": requests - len(ok),
        "duplicated": len(ids) - len(set(ids)) + sum(len(r["ids"]) > 1 for r in recs),
        "errors": sorted({r["error"] for r in recs if r["error"]})[:5],
        "server_200_responses": served - len(QUESTIONS),  # minus the sequential reference run
        "answers_equal_sequential": all(r["text"] == reference[r["question"]] for r in ok),
        "wall_s": round(wall, 3), "throughput_rps": round(len(ok) / wall, 3),
        "latency_s": {f"p{q}": round(pct(lat, q), 4) for q in (50, 95, 99)},
        "ttft_s": {f"p{q}": round(pct(ttft, q), 4) for q in (50, 95, 99)},
        "rss_first_quarter_mib": round(rss_first / 2**20, 1),
        "rss_last_quarter_mib": round(rss_last / 2**20, 1),
        "rss_last_over_first": round(rss_last / rss_first, 4),
        "rss_mib_by_tenth": [round(statistics.mean(r["rss_bytes"] for r in part) / 2**20, 1)
                             for part in _tenths(by_order)],
        "prefix_cache": None,
    }  # fmt: skip


def _tenths(recs: list[dict]) -> list[list[dict]]:
    """``recs`` in ten consecutive parts (fewer when there are fewer than ten)."""
    n = len(recs)
    parts = [recs[i * n // 10 : (i + 1) * n // 10] for i in range(10)]
    return [p for p in parts if p]


def markdown(results: dict[str, Any]) -> str:
    rows = results["setups"]
    lines = [
        "# vlmctx serve under load (eval/bench/serve_load.py)",
        "",
        f"`{results['command']}` on {results['machine']} (load average at start "
        f"{results['load_average_start']}, end {results['load_average_end']}); loopback only, "
        "streamed requests from concurrent `openai` clients, each its own connection.",
        "",
        "| setup | model | frames | requests x clients | completed | lost | duplicated | "
        "equal to sequential | throughput (req/s) | latency p50 / p95 / p99 (s) | "
        "TTFT p50 / p95 / p99 (s) | RSS first -> last quarter (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        la, tt = r["latency_s"], r["ttft_s"]
        lines.append(
            f"| {r['setup']} | {r['model']} | {r['frames_per_request']} | {r['requests']} x "
            f"{r['clients']} | {r['completed']} | {r['lost']} | {r['duplicated']} | "
            f"{'yes' if r['answers_equal_sequential'] else 'NO'} | {r['throughput_rps']} | "
            f"{la['p50']} / {la['p95']} / {la['p99']} | {tt['p50']} / {tt['p95']} / {tt['p99']} | "
            f"{r['rss_first_quarter_mib']} -> {r['rss_last_quarter_mib']} "
            f"(x{r['rss_last_over_first']}) |"
        )
    lines += [
        "",
        "Latency: request sent to `[DONE]`; TTFT: request sent to the first chunk with text "
        "(queueing included: one request runs on the model at a time, the others wait their "
        "turn, so p50 latency is about clients x service time). The server's count of 200 "
        "responses: " + ", ".join(f"{r['setup']} {r['server_200_responses']:g}" for r in rows)
        + " (one per request). Decoded frames come from the engine's cache after the first "
        "request (the same video throughout). Prefix reuse (issue 28) is not in this engine: "
        "`prefix_cache` null. CPU only, a shared machine: absolute times depend on its load.",
        "",
        "Server RSS (MiB), mean per tenth of the run: "
        + "; ".join(f"{r['setup']} {r['rss_mib_by_tenth']}" for r in rows) + ".",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--setups", default=",".join(SETUPS), help=f"of {', '.join(SETUPS)}")
    p.add_argument("--out", default=str(RESULTS / "serve_load"), help="path without suffix")
    args = p.parse_args(argv)
    from vlmctx.runtime.assets import sample_video

    media = tempfile.mkdtemp(prefix="vlmctx-serve-load-")
    shutil.copy(sample_video(), Path(media) / "clip.mp4")
    load0 = os.getloadavg()
    try:
        rows = [run_setup(n, args.requests, args.clients, media) for n in args.setups.split(",")]
    finally:
        shutil.rmtree(media, ignore_errors=True)
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    results = {
        "command": f"python -m vlmctx_eval.bench.serve_load {argv_text}".strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_start": [round(x, 2) for x in load0],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "setups": rows,
    }  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
