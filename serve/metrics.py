"""Prometheus metrics of one server (its own registry, so several apps in one process, as in
the tests, do not share counters). ``GET /metrics`` serves them in the text format."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

# seconds: a toy model answers in tens of milliseconds, a 7B model on a long video in minutes
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600)


class Metrics:
    """Requests by path and status, latency and time-to-first-token histograms, tokens, queue."""

    def __init__(self, waiting: Callable[[], int], running: Callable[[], int]) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("vlmctx_requests", "HTTP requests answered, by path and status",
                                ["path", "status"], registry=r)  # fmt: skip
        self.latency = Histogram("vlmctx_request_latency_seconds", "chat completion latency, "
                                 "request accepted to last byte", buckets=BUCKETS, registry=r)  # fmt: skip
        self.ttft = Histogram("vlmctx_time_to_first_token_seconds", "request accepted to the "
                              "first answer text (queue, decode, prefill included)",
                              buckets=BUCKETS, registry=r)  # fmt: skip
        self.prompt_tokens = Counter("vlmctx_prompt_tokens", "input tokens of answered requests "
                                     "(after pooling)", registry=r)  # fmt: skip
        self.completion_tokens = Counter("vlmctx_completion_tokens", "generated tokens (of cancelled "
                                         "requests too)",
                                         registry=r)  # fmt: skip
        self.cancelled = Counter("vlmctx_requests_cancelled", "requests whose client left "
                                 "before the answer was complete", registry=r)  # fmt: skip
        queue = Gauge("vlmctx_queue_depth", "requests waiting for the model", registry=r)
        queue.set_function(lambda: float(waiting()))
        busy = Gauge("vlmctx_requests_running", "requests on the model (0 or 1)", registry=r)
        busy.set_function(lambda: float(running()))
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds

    def text(self) -> bytes:
        return generate_latest(self.registry)
