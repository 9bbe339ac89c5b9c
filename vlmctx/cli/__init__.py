"""The ``vlmctx`` command line.

The parser and ``main`` live here; the core subcommands (``ask``, ``info``, ``ls``, ``plan``) in
``commands.py``, ``live`` in ``live.py``. Subcommands of the rooms built on
top of the library (``eval``/``report`` from ``eval/``, ``batch``/``train-far``/``generate`` from
``pipelines/``, ``demo`` from ``demos/``) are plugged in through the ``vlmctx.commands``
entry-point group: each entry point names a ``register(subparsers)`` function that adds its parser
and sets ``func``. That keeps the dependency direction (rooms -> vlmctx, never the reverse) while
``pip install .`` still gives one ``vlmctx`` with every subcommand. An entry point named
``group.command`` adds ``command`` under ``vlmctx group``, so one command group can gather commands
from rooms that must not import each other (``vlmctx toylab train`` from ``pipelines/``,
``vlmctx toylab run`` from ``eval/``).

Errors of the :class:`~vlmctx.errors.VlmctxError` family become one line on stderr and a
non-zero exit; ``--debug`` shows the traceback. ``-v``/``-q``/``--debug`` work on every command
(:func:`common_options`; what they change: :mod:`vlmctx.cli.logs`).

Start-up is part of the interface (``python -m vlmctx_eval.bench.startup``): a command line that
names a core command does not load the plugins, ``register`` functions only build parsers, and
heavy libraries (torch, transformers, PyAV) are imported by the command that runs, not here.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import re
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, NoReturn

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


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``vlmctx ask: error: ... (see `vlmctx ask --help`)``.

    argparse prints the whole usage block before its error, several lines for most commands; a
    bad flag is one line here, like every other user error, with a "did you mean" on an invalid
    choice (commands, ``--layout``...). Subparsers inherit this class.
    """

    def error(self, message: str) -> NoReturn:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            from vlmctx.registry import did_you_mean

            choices = re.findall(r"'([^']*)'", m[2])
            message = f"invalid choice {m[1]!r}{did_you_mean(m[1], choices)}; choose from {m[2]}"
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


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


# vlmctx.cli.commands and vlmctx.cli.live; a command line naming one of these skips the plugins
CORE = ("ask", "plan", "info", "ls", "live")

EXAMPLES = """examples:
  vlmctx ask sample "What colour is the ball?" --model toylab --fps 1
  vlmctx info clip.mp4
  vlmctx plan 1280x720@30m --model Qwen/Qwen2-VL-7B-Instruct --fit 24GiB,80GiB
  vlmctx ls

`vlmctx COMMAND --help` explains each command. Docs: README.md and docs/ in the repository."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description or epilog, keeps indented lines (examples) as
    written: descriptions stay one string in the code, examples stay copy-pasteable."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        for block in text.split("\n\n"):
            lines = block.splitlines()
            if any(line.startswith(" ") for line in lines[1:]):  # a heading over examples
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(super()._fill_text(block, width, indent))
        return "\n\n".join(out)


def common_options(subcommand: bool) -> argparse.ArgumentParser:
    """``-v/--verbose``, ``-q/--quiet`` and ``--debug``, shared by ``vlmctx`` and every command.

    On a subcommand their defaults are suppressed, so ``vlmctx -v ask ...`` is not undone by the
    subcommand's own default.
    """
    p = argparse.ArgumentParser(add_help=False)
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if subcommand else {}
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="more output: -v info, -vv debug (library messages too)",
        **({"default": 0} if not subcommand else kw),
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="errors and results only, no progress bars", **kw
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs", **kw)
    return p


def _add_common(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Give every command (and the commands of groups) the common options and help formatter.

    A command that already uses one of the option strings (``batch -q`` is ``--question``)
    keeps it and gets only the long form.
    """
    for parser in set(sub.choices.values()):
        parser.formatter_class = HelpFormatter
        for action in common._actions:
            free = [o for o in action.option_strings if o not in parser._option_string_actions]
            if free and action.dest not in {a.dest for a in parser._actions}:
                parser._add_action(_copy_action(action, free))
        for child in parser._actions:
            if isinstance(child, argparse._SubParsersAction):
                _add_common(child, common)


def _copy_action(action: argparse.Action, option_strings: list[str]) -> argparse.Action:
    new = copy.copy(action)
    new.option_strings = option_strings
    return new


def _command_of(argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is not an option: the command asked for."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``vlmctx`` parser. Given the command line, it registers only what that line needs:
    a core command does not load the rooms' plugins (``vlmctx info`` stays fast)."""
    parser = Parser(
        prog="vlmctx",
        description="Run open vision-language models on long videos, training-free, and "
        "measure it: sample frames with their true timestamps, pool visual tokens, change "
        "position schemes, plan memory before loading weights.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        parents=[common_options(subcommand=False)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from vlmctx.cli import commands

    commands.register_core(sub)
    from vlmctx.cli import live

    live.register(sub)
    if argv is None or _command_of(argv) not in CORE:
        _load_plugins(sub)
    _add_common(sub, common_options(subcommand=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``vlmctx`` command; return its exit code (2 for every user error).

    A user error (a :class:`VlmctxError`, a bad flag, a file that cannot be read or written) is
    one line on stderr; ``--debug`` shows its traceback instead. A reader that goes away
    (``vlmctx info VIDEO | head``) ends the command quietly; anything else is a bug, reported in
    one line that says to rerun with ``--debug``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed in one line)
        return exc.code if isinstance(exc.code, int) else 2
    from vlmctx.cli import logs

    logs.setup(args.verbose, args.quiet, args.debug)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    name = f"vlmctx {args.command}"
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # what a shell reports for a command killed by SIGPIPE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code, message = _error_line(exc)
        print(f"{name}: error: {message}", file=sys.stderr)
        return code


def _error_line(exc: Exception) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that ends a command."""
    if isinstance(exc, VlmctxError):
        code, text = exc.exit_code, str(exc)
    elif isinstance(exc, OSError) and exc.strerror:  # a file the user named cannot be used
        where = f": {exc.filename}" if exc.filename else ""
        code, text = 2, f"{exc.strerror}{where}"
    elif isinstance(exc, MemoryError):
        code, text = 2, "out of memory; use fewer frames (--frames) or smaller ones (--max-pixels)"
    else:
        code = 1
        text = (
            f"unexpected {type(exc).__name__}: {exc} (a bug in vlmctx: rerun with --debug "
            "for the traceback and report it)"
        )
    return code, " ".join(text.split())


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
