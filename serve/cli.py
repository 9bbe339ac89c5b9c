"""``vlmctx serve``: start the OpenAI-compatible server (entry point ``serve =
vlmctx_serve.cli:register``). Flags are checked, and the context configuration built by the
registries, before the model loads; the URL is printed once the socket listens."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import sys
import threading
import time

from vlmctx.cli.argtypes import int_at_least, memory_size, positive_float, positive_int
from vlmctx.errors import ConfigError

log = logging.getLogger("vlmctx.serve")
MIB = 1 << 20


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand to a ``vlmctx`` subparsers object."""
    from vlmctx.cli.commands import add_model_args
    from vlmctx.cli.context_args import add_context_args

    p = sub.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API (chat completions with video)",
        description="Serve MODEL at /v1/chat/completions (streamed or not), /v1/models, /health "
        "and /metrics, for OpenAI clients: message parts text, video_url and image_url, vlmctx "
        "options (frames, fps, sampler, pooling, position...) as extra body fields. Closed by "
        "default: it listens on 127.0.0.1, reads no local file until --allowed-media-dir and no "
        "remote host until --allowed-media-domains. docs/serve.md has examples.",
        epilog="examples:\n"
        "  vlmctx serve --model toylab --allowed-media-dir ~/videos\n"
        "  VLMCTX_API_KEY=secret vlmctx serve --host 0.0.0.0 --port 8000 --max-memory 24GiB\n"
        "  vlmctx serve --allowed-media-domains media.example.com --max-media-mb 200",
    )
    add_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int_at_least(1, 65535), default=8000, help="port (8000)")
    p.add_argument("--served-model-name", metavar="NAME",
                   help="the id clients send as 'model' (default: --model)")  # fmt: skip
    g = p.add_argument_group("access (closed unless given)")
    g.add_argument("--allowed-media-dir", action="append", metavar="DIR",
                   help="serve paths and file:// URLs under DIR (symlinks resolved; repeatable; "
                   "none by default)")  # fmt: skip
    g.add_argument("--allowed-media-domains", action="append", metavar="HOST[:PORT],...",
                   help="fetch http(s):// media from these hosts only (none by default); "
                   "redirects only to the same host")  # fmt: skip
    g.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default: the "
                   "VLMCTX_API_KEY environment variable; none: no key)")  # fmt: skip
    g = p.add_argument_group("limits")
    g.add_argument("--max-media-mb", type=positive_float, default=64.0,
                   help="largest downloaded or data: URL medium (64)")  # fmt: skip
    g.add_argument("--media-timeout", type=positive_float, default=30.0,
                   help="seconds for one media download (30)")  # fmt: skip
    g.add_argument("--max-body-mb", type=positive_float, default=100.0,
                   help="largest request body (100; base64 is 4/3 of the medium)")  # fmt: skip
    g.add_argument("--max-question-chars", type=positive_int, default=8000,
                   help="text of all messages together (8000)")  # fmt: skip
    g.add_argument("--max-new-tokens", type=positive_int, default=512,
                   help="most max_tokens a request may ask for (512; default per request 128)")  # fmt: skip
    g.add_argument("--max-frames", type=positive_int, default=256,
                   help="most frames one request may sample (256)")  # fmt: skip
    g.add_argument("--max-memory", type=memory_size,
                   help="refuse (413, with the plan) requests whose memory plan exceeds this, "
                   "e.g. 24GiB, before decoding anything")  # fmt: skip
    g.add_argument("--max-queue", type=int_at_least(0), default=16,
                   help="requests waiting for the model; more get 429 (16)")  # fmt: skip
    add_context_args(p)
    p.set_defaults(func=cmd_serve)


def settings_from_args(args: argparse.Namespace):  # -> ServeSettings
    """The server's settings from its flags (folders checked, sizes in bytes)."""
    from vlmctx_serve.settings import ServeSettings

    max_memory = None
    if args.max_memory:
        from vlmctx.planner import parse_bytes

        max_memory = parse_bytes(args.max_memory)
    key = args.api_key if args.api_key is not None else os.environ.get("VLMCTX_API_KEY")
    return ServeSettings(
        model=args.served_model_name or args.model,
        allowed_media_dirs=ServeSettings.resolve_dirs(args.allowed_media_dir),
        allowed_media_domains=ServeSettings.parse_domains(args.allowed_media_domains),
        max_media_bytes=int(args.max_media_mb * MIB),
        media_timeout_s=args.media_timeout,
        max_body_bytes=int(args.max_body_mb * MIB),
        max_question_chars=args.max_question_chars,
        max_new_tokens=args.max_new_tokens,
        max_frames=args.max_frames,
        max_memory=max_memory,
        max_queue=args.max_queue,
        api_key=key or None,
    )


def require_serve_extra() -> None:
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "prometheus_client", "httpx")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if missing:
        raise ConfigError(f"vlmctx serve needs {', '.join(missing)}: pip install 'vlmctx[serve]'")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args: argparse.Namespace) -> int:
    require_serve_extra()
    from vlmctx.cli.context_args import context_from_args
    from vlmctx.engine import VideoLM, check_config

    settings = settings_from_args(args)  # bad flags fail before the model loads
    config = context_from_args(args)
    components = check_config(config)
    if not _is_loopback(args.host) and not settings.api_key:
        log.warning("listening on %s without an API key: anyone who reaches it can use the "
                    "model (--api-key or VLMCTX_API_KEY)", args.host)  # fmt: skip
    lm = VideoLM.load(args.model, config, device=args.device, dtype=args.dtype,
                      components=components)  # fmt: skip
    import uvicorn

    from vlmctx_serve.app import create_app

    app = create_app(lm, settings, config)
    level = "info" if getattr(args, "verbose", 0) else "warning"
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=level,
                                           access_log=bool(getattr(args, "verbose", 0))))  # fmt: skip
    threading.Thread(target=_announce, args=(server, args, settings.model), daemon=True).start()
    # uvicorn exits when it cannot bind, and re-raises Ctrl-C after its graceful shutdown
    with contextlib.suppress(SystemExit, KeyboardInterrupt):
        server.run()
    if not server.started:
        raise ConfigError(f"could not listen on {args.host}:{args.port} (in use, or not an "
                          "address of this machine)")  # fmt: skip
    return 0


def _announce(server, args: argparse.Namespace, model: str) -> None:  # noqa: ANN001
    """Print the URL once uvicorn listens (the first line of output, for scripts)."""
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"vlmctx serve: {model} at http://{host}:{args.port}/v1 (Ctrl-C stops)",
              flush=True)  # fmt: skip
        sys.stdout.flush()
