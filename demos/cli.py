"""``vlmctx demo``: start the Gradio video-QA app (entry point ``demo =
vlmctx_demos.cli:register``)."""

from __future__ import annotations

import argparse
import os
import tempfile


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand to a ``vlmctx`` subparsers object."""
    from vlmctx.commands import add_model_args

    p = sub.add_parser(
        "demo",
        help="start the web demo (Gradio): upload a video, ask, see frames, tokens, memory, time",
        epilog="examples:\n"
        "  vlmctx demo --model toylab                  # offline, answers about the sample\n"
        "  vlmctx demo                                 # the default model (downloads once)\n"
        "  vlmctx demo --host 0.0.0.0 --port 8080      # reachable from your network",
        description="Serve the video-QA demo. It uses the GPU when there is one. Only the host "
        "given is listened on (localhost by default); use --host 0.0.0.0 to share on a network.",
    )
    add_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (7860)")
    p.add_argument(
        "--concurrency", type=int, default=1, help="questions answered at once (1: one GPU)"
    )
    p.add_argument("--queue-size", type=int, default=32, help="waiting requests before refusing")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="upload size limit (200)")
    p.add_argument(
        "--cache-dir",
        help="folder for uploads and rendered frames (default: a new temp folder, cleaned hourly)",
    )
    p.set_defaults(func=cmd_demo)


def launch(args: argparse.Namespace, *, block: bool = True):  # -> (Blocks, url)
    """Load the model, build the app and start serving; returns the Blocks and its local URL."""
    # Gradio reads its upload folder from the environment: keep uploads in a folder of ours.
    cache = args.cache_dir or tempfile.mkdtemp(prefix="vlmctx-demo-")
    os.environ["GRADIO_TEMP_DIR"] = cache
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from vlmctx.assets import sample_video
    from vlmctx.engine import VideoLM
    from vlmctx_demos.app import CSS, build_app

    lm = VideoLM.load(args.model, device=args.device, dtype=args.dtype)
    sample = str(sample_video())
    demo = build_app(lm, sample=sample, max_upload_mb=args.max_upload_mb)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    _, url, _ = demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=f"{args.max_upload_mb:g}mb",
        allowed_paths=[sample],  # the one file outside our cache that we serve
        css=CSS,
        ssr_mode=False,
        quiet=True,
        prevent_thread_lock=not block,
    )
    return demo, url


def cmd_demo(args: argparse.Namespace) -> int:
    launch(args, block=True)
    return 0
