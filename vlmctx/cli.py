"""The ``vlmctx`` command line.

Core subcommands (``ask``, ``info``, ``ls``, ``plan``) live here. Subcommands of the rooms built on
top of the library (``eval``/``report`` from ``eval/``, ``batch``/``train-far``/``generate`` from
``pipelines/``, ``demo`` from ``demos/``) are plugged in through the ``vlmctx.commands``
entry-point group: each entry point names a ``register(subparsers)`` function that adds its parser
and sets ``func``. That keeps the dependency direction (rooms -> vlmctx, never the reverse) while
``pip install .`` still gives one ``vlmctx`` with every subcommand. An entry point named
``group.command`` adds ``command`` under ``vlmctx group``, so one command group can gather commands
from rooms that must not import each other (``vlmctx toylab train`` from ``pipelines/``,
``vlmctx toylab run`` from ``eval/``).

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

# Help of the command groups whose commands come from more than one room: (help, description).
GROUPS = {
    "toylab": (
        "train the small toy-lab VLM on synthetic videos, or run its long-video experiment",
        "The toy lab (docs/toylab.md): a tiny Qwen2-VL trained here on <= 16-frame synthetic "
        "videos, evaluated at up to 16x that length under each position scheme.",
    ),
}


def _load_plugins(sub: argparse._SubParsersAction) -> None:
    eps = sorted(entry_points(group="vlmctx.commands"), key=lambda e: e.name)
    groups: dict[str, argparse._SubParsersAction] = {}
    for ep in eps:
        group, _, name = ep.name.rpartition(".")
        if group and group not in groups:
            groups[group] = _add_group(sub, group, [e.name for e in eps])
        target = groups[group] if group else sub
        try:
            register = ep.load()
        except ImportError as exc:  # an optional extra is missing: say which command is off
            log.debug("command %s unavailable: %s", ep.name, exc)
            p = target.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(func=_unavailable(ep.name.replace(".", " "), exc))
            continue
        register(target)


def _add_group(
    sub: argparse._SubParsersAction, group: str, names: list[str]
) -> argparse._SubParsersAction:
    """``vlmctx group``, whose commands are the entry points named ``group.<command>``."""
    commands = [n.partition(".")[2] for n in names if n.startswith(group + ".")]
    help_, description = GROUPS.get(group, (f"{group} commands", None))
    p = sub.add_parser(group, help=help_, description=description)
    return p.add_subparsers(
        dest=f"{group}_job", required=True, metavar="{" + ",".join(commands) + "}"
    )


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
