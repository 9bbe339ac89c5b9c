"""How the ``vlmctx`` command talks: log levels for ``-q``/``-v``/``--debug``, quiet libraries.

Quiet by default: vlmctx's own warnings are shown (one line each, ``warning: ...``), the
libraries' (transformers, huggingface_hub, accelerate, torch) only from ``-vv`` on, and a message
is never shown twice. Progress bars appear only for work that takes longer than a second
(``TQDM_DELAY``: loading a small model's weights shows no bar, downloading a big one does) and
never with ``-q``. Everything is set through the environment and the ``logging`` module, so no
library is imported here: ``vlmctx --help`` must stay fast.

Library code only logs (``logging.getLogger(__name__)``); :func:`setup` is for front ends.
"""

from __future__ import annotations

import logging
import os
import sys

LIBRARIES = (
    "transformers",
    "huggingface_hub",
    "accelerate",
    "torch",
    "torchcodec",
    "gradio",
    "httpx",
    "urllib3",
    "PIL",
    "matplotlib",
)


class _Once(logging.Filter):
    """Drop a record whose logger and message were already shown (libraries repeat themselves)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


class _Format(logging.Formatter):
    """``warning: message`` for vlmctx's own records; level, logger and message otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        own = record.name == "vlmctx" or record.name.startswith("vlmctx")
        if own and record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {record.getMessage()}"
        if own and record.levelno == logging.INFO:
            return record.getMessage()
        first = (record.getMessage().strip().splitlines() or [""])[0]  # no source lines
        return f"{record.levelname} {record.name}: {first}"


def level_for(verbose: int = 0, quiet: bool = False, debug: bool = False) -> int:
    """The vlmctx log level: ERROR with ``-q``, WARNING by default, INFO ``-v``, DEBUG ``-vv``."""
    if debug or verbose >= 2:
        return logging.DEBUG
    if verbose == 1:
        return logging.INFO
    return logging.ERROR if quiet else logging.WARNING


def setup(verbose: int = 0, quiet: bool = False, debug: bool = False) -> None:
    """Configure logging, library verbosity and progress bars for one ``vlmctx`` command."""
    level = level_for(verbose, quiet, debug)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format())
    handler.addFilter(_Once())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    loud = level <= logging.DEBUG
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if loud else logging.ERROR)
    # library warnings (warnings.warn) from -v on; vlmctx itself logs, it does not warn
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    # transformers and huggingface_hub read these when they are imported (later, if at all)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if loud else "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "0" if loud else "1")
    os.environ.setdefault("TQDM_DELAY", "1")  # bars only for work longer than a second
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    elif not loud and not sys.stderr.isatty():
        # piped or captured stderr (logs, scripts, tests): the hub's and transformers' bars
        # ("Loading weights") would only add carriage-return noise to the one-line messages
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:  # already imported (in-process callers): tell it too
            sys.modules["transformers"].utils.logging.disable_progress_bar()
    logging.captureWarnings(True)  # Python warnings go through the handler, shown once
