"""A real OpenAI-compatible HTTP server (``http.server`` in a thread) that returns canned judge
completions. It is a test double for the *remote judge*, not for any model under evaluation: the
replies are chosen by rules on the prompt, so tests know the expected scores by hand."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Rule = Callable[[str], str | None]


class JudgeServer:
    """``POST /v1/chat/completions``; ``reply(prompt)`` gives the content, or ``None`` for an HTTP
    500. ``fail_first`` answers the first N requests with HTTP 500 (to exercise retries)."""

    def __init__(self, reply: Rule, fail_first: int = 0) -> None:
        self.reply = reply
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization")})  # fmt: skip
                prompt = body["messages"][-1]["content"]
                content = None
                if len(server.requests) > server.fail_first and self.path.endswith(
                    "/chat/completions"
                ):
                    content = server.reply(prompt)
                if content is None:
                    self.send_response(500)
                    self.end_headers()
                    return
                data = json.dumps(
                    {"id": "x", "object": "chat.completion", "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": content}}]}
                ).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def kind(prompt: str) -> str:
    """Which of the three summarization judge prompts this is."""
    if '"fluency"' in prompt:
        return "fluency"
    if '"sentence_count"' in prompt:
        return "precision"
    if '"recall"' in prompt:
        return "recall"
    return "other"
