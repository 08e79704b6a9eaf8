"""The ``bmes`` command line.

Each subcommand lives in its own module ``bmes_imaging.cli._<name>`` with a
``register(subparsers)`` function that adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit status).

Exit status: 0 success, 1 the project's error (:class:`~bmes_imaging.errors.BmesError`,
message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import BmesError

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``bmes --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo", "index", "convert", "phantom", "detect", "evaluate", "clinical",
    "agreement", "screen", "export", "report", "view",
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


def _configure_logging(verbose: int, log_file: str | None) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=level, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bmes`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose, args.log_file)
    try:
        return int(args.func(args) or 0)
    except BmesError as exc:
        print(f"bmes {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bmes {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
