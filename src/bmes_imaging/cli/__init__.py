"""The ``bmes`` command line.

Each subcommand lives in its own module ``bmes_imaging.cli._<name>`` with a
``register(subparsers)`` function that adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit status).

Exit status: 0 success, 1 the project's error (:class:`~bmes_imaging.errors.BmesError`)
or an operating-system / database fault (full disk, read-only folder, store held or
gone), as ONE line on stderr, 2 usage error. Anything else is a bug and shows its
traceback. Everything printed goes through
:class:`~bmes_imaging._outbound.TerminalStream`: control characters from data (a
SeriesDescription holding ``ESC]0;...``) are escaped, never sent to the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from .._faults import db_error_message, os_error_line
from .._outbound import TerminalStream, terminal_text
from ..errors import BmesError

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``bmes --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo", "index", "convert", "phantom", "detect", "atlas", "evaluate", "clinical",
    "agreement", "validate", "screen", "export", "pacs", "report", "followup", "view",
    "db",
)

log = logging.getLogger("bmes_imaging")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bmes`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="bmes",
        description="Find, review and report bone marrow edema of the foot and ankle on MRI.",
    )
    parser.add_argument("--version", action="version", version=f"bmes-imaging {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="also write the log to FILE (no patient identifiers are logged)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}._{name}")
        module.register(sub)
    return parser


class _EscapingFormatter(logging.Formatter):
    """Log lines with control characters escaped (a traceback keeps its newlines)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_text(super().format(record), keep="\n")


def _private_log(path: str) -> logging.Handler:
    """A file handler on ``path``, created 0600 whatever the umask; quiet on a full disk."""
    from .._atomic import PrivateLogFile

    return PrivateLogFile(path)


def _configure_logging(verbose: int, log_file: str | None) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(_private_log(log_file))
    formatter = _EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for h in handlers:
        h.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=handlers)


def _fault_line(exc: BaseException) -> str | None:
    """One line for an OS or database fault; ``None`` for anything else (a bug)."""
    if isinstance(exc, OSError):
        return os_error_line(exc)
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError):
            return db_error_message(exc, "in use")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bmes`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalStream(stdout), TerminalStream(stderr)  # type: ignore
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _run(args: argparse.Namespace) -> int:
    try:
        _configure_logging(args.verbose, args.log_file)
        return int(args.func(args) or 0)
    except BmesError as exc:
        print(f"bmes {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bmes {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # only OS / database faults; bugs are re-raised
        line = _fault_line(exc)
        if line is None:
            raise
        print(f"bmes {args.command}: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
