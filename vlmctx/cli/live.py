"""``vlmctx live``: play a file or a live feed into a streaming session and answer questions at
stream times given on the command line (``--ask-at 10s:"question"``) or typed on stdin while it
plays (one line each, answered at the current stream time).

Each answer says when it was asked (stream seconds), what the model answered, and which frames it
was answered from: the recent window and the blocks retrieved from offloaded memory, with their
timestamps (docs/streaming.md). A damaged chunk is skipped with a warning; a stalled source ends
the play (questions still pending are answered from what was seen) with exit code 2.

Registered as a core command by :mod:`vlmctx.cli`; ``register`` imports no torch.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any

_TIME = re.compile(r"^\s*((?:\d+(?:\.\d+)?[hms]?)+)\s*:(.*)$", re.S)
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


@dataclass(frozen=True)
class Ask:
    """A question to answer once the stream reaches ``at_s`` seconds."""

    at_s: float
    question: str


def parse_ask(text: str) -> Ask:
    """``10s:question``, ``1m30s:question``, ``90:question`` -> :class:`Ask` (argparse type)."""
    m = _TIME.match(text)
    if not m or not m[2].strip():
        raise argparse.ArgumentTypeError(
            f'{text!r} is not TIME:QUESTION (e.g. 10s:"What colour is the ball?", 1m30s:...)'
        )
    parts = _PART.findall(m[1])
    units = [u for _, u in parts]
    if "".join(f"{n}{u}" for n, u in parts) != m[1] or ("" in units and len(parts) > 1):
        raise argparse.ArgumentTypeError(f"{m[1]!r} is not a time such as 10s, 1m30s or 90")
    return Ask(sum(float(n) * _UNIT[u] for n, u in parts), m[2].strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def host_budget(text: str) -> str:
    """``--host-budget``: a memory size (16GiB) or ``none``; kept as text for the session."""
    if text.strip().lower() in ("none", "unbounded"):
        return "none"
    from vlmctx.cli.argtypes import memory_size

    return memory_size(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``vlmctx live`` (argparse only: nothing heavy is imported here)."""
    from vlmctx.cli.commands import add_model_args

    p = sub.add_parser(
        "live",
        help="stream a video or live feed into a bounded-memory session and ask at any time",
        description="Play SOURCE (a file, 'sample', an rtsp/http URL, a FIFO, or a device with "
        "--format) into a streaming session: frames are sampled at --fps by their true "
        "timestamps and pushed --chunk-frames at a time; at most --budget key/value tokens stay "
        "on the device, older frames are offloaded and retrieved per question. Questions come "
        "from --ask-at and from stdin (one per line, answered at the current stream time). "
        "See docs/streaming.md.",
        epilog="examples:\n"
        '  vlmctx live sample --model toylab --ask-at 4s:"What colour is the ball?"\n'
        "  vlmctx live clip.mp4 --realtime --budget 4096   # then type questions\n"
        '  vlmctx live rtsp://cam.local/stream --fps 0.5 --ask-at 1m:"What happened?"',
    )
    p.add_argument("source", help="video file, 'sample', URL (rtsp/http/...), FIFO or device")
    add_model_args(p)
    p.add_argument(
        "--ask-at",
        action="append",
        type=parse_ask,
        default=[],
        metavar="T:Q",
        help='ask Q once the stream reaches T (10s, 1m30s, 90), e.g. 10s:"What '
        'happened?"; repeatable',
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=8192,
        help="key/value tokens kept on the device (8192)",
    )
    p.add_argument(
        "--unbounded",
        action="store_true",
        help="no budget: keep every frame on the device (full context)",
    )
    p.add_argument(
        "--host-budget",
        type=host_budget,
        help="host memory the session may keep: offloaded key/values, then a compact tier of "
        "frames + key summaries re-encoded when retrieved, e.g. 16GiB (default: half of the "
        "free memory; 'none': unbounded). `vlmctx plan --stream` says how long each lasts",
    )
    p.add_argument(
        "--retrieve-tokens",
        type=_positive_int,
        help="part of the budget kept for retrieved blocks (half of it by default)",
    )
    p.add_argument(
        "--top-k",
        type=_positive_int,
        default=4,
        help="at most this many offloaded blocks retrieved per question (4)",
    )
    p.add_argument("--fps", type=_positive_float, default=1.0, help="frames sampled per second (1)")
    p.add_argument(
        "--chunk-frames",
        type=_positive_int,
        default=None,
        help="frames pushed per chunk (default: the model's, from its vlmctx.json or family: "
        "toylab 16, others 2; docs/streaming.md)",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=448 * 448,
        help="frame size cap in pixels, aspect kept (200704)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own rate (default: as fast as it decodes)",
    )
    p.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="with --realtime: play this many times faster (1)",
    )
    p.add_argument("--format", help="PyAV demuxer for a device, e.g. v4l2 (makes SOURCE live)")
    p.add_argument(
        "--stall-timeout",
        type=_positive_float,
        default=10.0,
        help="seconds without a frame before a live source counts as stalled (10)",
    )
    p.add_argument(
        "--max-new-tokens", type=_positive_int, default=32, help="answer length cap (32)"
    )
    p.add_argument("--no-stdin", action="store_true", help="do not read questions from stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per answer or warning")
    p.set_defaults(func=cmd_live)


def cmd_live(args: argparse.Namespace) -> int:
    """Open the source (a bad one fails before any weight loads), load the model, play."""
    from vlmctx.cli.commands import resolve_video
    from vlmctx.streaming.sources import open_source

    if args.chunk_frames is None:
        from vlmctx.models.resolve import default_chunk_frames

        args.chunk_frames = default_chunk_frames(args.model)
    source = open_source(
        resolve_video(args.source),
        fps=args.fps,
        chunk_frames=args.chunk_frames,
        realtime=args.realtime,
        speed=args.speed,
        max_pixels=args.max_pixels,
        stall_timeout_s=args.stall_timeout,
        format=args.format,
    )
    try:
        if hasattr(source, "wait_open"):  # a live feed: fail on a bad address before loading
            source.wait_open()
        return Player(args, source).run()
    finally:
        source.close()


class Player:
    """The play loop: push chunks, answer the questions that are due, report faults."""

    def __init__(self, args: argparse.Namespace, source: Any) -> None:
        from vlmctx.engine import VideoLM

        self.args, self.source = args, source
        self.pending = sorted(args.ask_at, key=lambda a: a.at_s)
        self.typed: queue.Queue[str | None] = queue.Queue()
        lm = VideoLM.load(args.model, device=args.device, dtype=args.dtype)
        self.session = lm.session(
            None if args.unbounded else args.budget,
            retrieve_tokens=args.retrieve_tokens,
            top_k=args.top_k,
            host_budget=args.host_budget,
        )
        self.now_s = 0.0
        self.stdin_open = not args.no_stdin
        if self.stdin_open:
            threading.Thread(target=self._read_stdin, daemon=True, name="vlmctx-stdin").start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.typed.put(line.strip())
        self.typed.put(None)

    def run(self) -> int:
        from vlmctx.streaming import ChunkError
        from vlmctx.streaming.errors import CorruptChunkError, SourceError, SourceStalledError
        from vlmctx.streaming.sources import chunks_of

        code = 0
        with self.session:
            try:
                for item in chunks_of(self.source):
                    if isinstance(item, SourceStalledError):
                        self._note("error", str(item))
                        code = 2
                        break
                    if isinstance(item, CorruptChunkError):
                        self._note("warning", str(item))
                        continue
                    try:
                        self.session.push(item)
                    except ChunkError as exc:
                        self._note("warning", f"chunk at {item.pts_s[0]:.2f}s refused: {exc}")
                        continue
                    self.now_s = float(item.pts_s[-1])
                    self._answer_due()
            except SourceError as exc:  # the feed failed or could not be opened
                if not self.session.stats()["frames_pushed"]:
                    raise
                self._note("error", str(exc))
                code = 2
            self._finish()
        return code

    def _answer_due(self) -> None:
        while self.pending and self.pending[0].at_s <= self.now_s:
            ask = self.pending.pop(0)
            self._answer(ask.question, ask.at_s)
        self._answer_typed(block=False)

    def _answer_typed(self, block: bool) -> None:
        while self.stdin_open:
            try:
                line = self.typed.get(block=block)
            except queue.Empty:
                return
            if line is None:
                self.stdin_open = False
                return
            self._answer(line, None)

    def _finish(self) -> None:
        """The stream ended: answer what is left at the last stream time, then stdin to EOF."""
        if not self.session.stats()["frames_pushed"]:
            self._note("error", "the source gave no frame; nothing to answer from")
            return
        for ask in self.pending:
            self._answer(ask.question, ask.at_s)
        self.pending = []
        if self.stdin_open and sys.stdin.isatty() and not self.args.json:
            print(f"-- stream ended at {self.now_s:.2f}s; ask more, Ctrl-D to quit", flush=True)
        self._answer_typed(block=True)

    def _answer(self, question: str, asked_at: float | None) -> None:
        a = self.session.ask(question, max_new_tokens=self.args.max_new_tokens)
        late = asked_at is not None and asked_at > self.now_s
        record = {
            "asked_at_s": asked_at,
            "answered_at_s": self.now_s,
            "question": question,
            "answer": a.text,
            "recent_s": [t for _, t in a.recent],
            "retrieved": [
                {
                    "block": r.block,
                    "score": round(r.score, 3),
                    "tier": r.tier,
                    "frames_s": [t for _, t in r.frames],
                }
                for r in a.retrieved
            ],  # fmt: skip
            "context_tokens": a.context_tokens,
            "device_kv_bytes": a.device_kv_bytes,
            "timings_s": a.timings,
        }
        if self.args.json:
            print(json.dumps(record), flush=True)
            return
        when = f"[{self.now_s:.2f}s]" + (
            f" (asked for {asked_at:g}s; the stream ended)" if late else ""
        )
        print(f"{when} Q: {printable(question)}")
        print(f"  A: {printable(a.text)}")
        print(f"  recent frames: {_times(record['recent_s'])}")
        for r in record["retrieved"]:
            print(
                f"  retrieved block {r['block']} (score {r['score']:+.2f}, {r['tier']}): "
                f"{_times(r['frames_s'])}"
            )
        if not record["retrieved"]:
            print("  retrieved: none")
        sys.stdout.flush()

    def _note(self, level: str, message: str) -> None:
        if self.args.json:
            print(json.dumps({level: message, "at_s": self.now_s}), flush=True)
        print(f"vlmctx live: {level}: {' '.join(message.split())}", file=sys.stderr, flush=True)


def printable(text: str) -> str:
    """``text`` with control characters escaped (a model's answer must not move the cursor)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _times(seconds: list[float]) -> str:
    return " ".join(f"{t:.2f}s" for t in seconds) or "none"
