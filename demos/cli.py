"""``vlmctx demo``: start the Gradio video-QA app (entry point ``demo =
vlmctx_demos.cli:register``)."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile

from vlmctx.cli.argtypes import int_at_least, output_dir, positive_float, positive_int
from vlmctx.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand to a ``vlmctx`` subparsers object."""
    from vlmctx.cli.argtypes import add_prefix_cache_args
    from vlmctx.cli.commands import add_model_args

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
    add_prefix_cache_args(p)  # follow-ups and new questions about a video reuse its prefix
    p.add_argument("--host", type=_host, default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int_at_least(1, 65535), default=7860, help="port (7860)")
    p.add_argument(
        "--share",
        action="store_true",
        help="also publish a public *.gradio.live link (off unless given; GRADIO_SHARE is ignored)",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        help="questions answered at once (1: one GPU)",
    )
    p.add_argument(
        "--queue-size", type=positive_int, default=32, help="waiting requests before refusing"
    )
    p.add_argument(
        "--max-upload-mb", type=positive_float, default=200.0, help="upload size limit (200)"
    )
    p.add_argument(
        "--max-question-chars",
        type=positive_int,
        default=2000,
        help="longest question accepted (2000 characters; a huge prompt holds the only slot)",
    )
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=512,
        help="most answer tokens a user may ask for (512; the page's slider stops there)",
    )
    p.add_argument(
        "--cache-dir",
        type=output_dir,
        help="folder for uploads and rendered frames (default: a new temp folder, cleaned hourly "
        "and deleted on exit)",
    )
    p.set_defaults(func=cmd_demo)


def _host(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty address; use 127.0.0.1 or 0.0.0.0")
    return text


def require_gradio() -> None:
    """Refuse, in one line, to start without the [demo] extra."""
    import importlib.util

    try:  # find, not import: Gradio reads GRADIO_TEMP_DIR when imported (see launch)
        found = importlib.util.find_spec("gradio") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        found = False
    if not found:
        raise ConfigError(
            "the demo needs gradio, which is not installed: pip install 'vlmctx[demo]'"
        )


def launch(args: argparse.Namespace, *, block: bool = True):  # -> (Blocks, url)
    """Load the model, build the app and start serving; returns the Blocks and its local URL.

    Without ``--cache-dir`` the uploads go to a new temporary folder, deleted when the process
    exits (``args.cache_dir`` is set to it)."""
    from vlmctx.cli.argtypes import prefix_cache_of
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.assets import sample_video

    require_gradio()
    lm = VideoLM.load(  # a bad model fails here
        args.model, device=args.device, dtype=args.dtype, prefix_cache=prefix_cache_of(args)
    )
    # Gradio reads its upload folder from the environment: keep uploads in a folder of ours.
    if not args.cache_dir:
        args.cache_dir = tempfile.mkdtemp(prefix="vlmctx-demo-")
        atexit.register(shutil.rmtree, args.cache_dir, ignore_errors=True)
    cache = args.cache_dir
    os.environ["GRADIO_TEMP_DIR"] = cache
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from starlette.middleware import Middleware

    from vlmctx_demos.app import CSS, build_app
    from vlmctx_demos.upload_limit import UploadLimitMessage, upload_limit_message

    sample = str(sample_video())
    caps = {
        k: getattr(args, k) for k in ("max_question_chars", "max_new_tokens") if hasattr(args, k)
    }
    demo = build_app(lm, sample=sample, max_upload_mb=args.max_upload_mb, **caps)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    _, url, _ = demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=f"{args.max_upload_mb:g}mb",
        allowed_paths=[sample],  # the one file outside our cache that we serve
        css=CSS,
        ssr_mode=False,
        share=bool(getattr(args, "share", False)),  # explicit, or Gradio reads GRADIO_SHARE
        quiet=True,
        prevent_thread_lock=not block,
        # Gradio's 413 text says only "maximum allowed size": say what to do instead
        app_kwargs={"middleware": [Middleware(UploadLimitMessage,
                                              message=upload_limit_message(args.max_upload_mb))]},
    )  # fmt: skip
    return demo, url


def cmd_demo(args: argparse.Namespace) -> int:
    require_gradio()  # before the model loads
    own_cache = not args.cache_dir
    try:
        demo, url = launch(args, block=False)
        public = f" and {demo.share_url}" if getattr(demo, "share_url", None) else ""
        print(f"vlmctx demo: {args.model} at {url}{public} (Ctrl-C stops)", flush=True)
        demo.block_thread()
    finally:
        if own_cache and args.cache_dir:  # the uploads of this run go with it
            shutil.rmtree(args.cache_dir, ignore_errors=True)
    return 0
