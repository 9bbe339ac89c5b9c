"""The ``vlmctx`` command line.

Core subcommands (``ask``, ``info``, ``ls``, ``plan``) live here. Subcommands of the rooms built on
top of the library (``eval``/``report`` from ``eval/``, ``batch``/``train-far``/``generate`` from
``pipelines/``, ``demo`` from ``demos/``) are plugged in through the ``vlmctx.commands``
entry-point group: each entry point names a ``register(subparsers)`` function that adds its parser
and sets ``func``. That keeps the dependency direction (rooms -> vlmctx, never the reverse) while
``pip install .`` still gives one ``vlmctx`` with every subcommand.

Errors of the :class:`~vlmctx.errors.VlmctxError` family become one line on stderr and a
non-zero exit; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from vlmctx.errors import VlmctxError

log = logging.getLogger("vlmctx")


def _load_plugins(sub: argparse._SubParsersAction) -> None:
    for ep in sorted(entry_points(group="vlmctx.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # an optional extra is missing: say which command is off
            log.debug("command %s unavailable: %s", ep.name, exc)
            p = sub.add_parser(ep.name, help=f"(unavailable: {exc})")
            p.set_defaults(func=_unavailable(ep.name, exc))
            continue
        register(sub)


def _unavailable(name: str, exc: Exception):
    def run(args: argparse.Namespace) -> int:
        raise VlmctxError(
            f"`vlmctx {name}` cannot run: {exc}. Install the extras: pip install 'vlmctx[all]'"
        )

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmctx",
        description="Run open vision-language models on long videos, training-free, and measure it.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from vlmctx import commands

    commands.register_core(sub)
    _load_plugins(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VlmctxError as exc:
        if args.debug:
            raise
        print(f"vlmctx {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"vlmctx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
