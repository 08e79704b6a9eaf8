"""``bmes report``: not implemented yet (placeholder so the command table stays stable)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand (placeholder: registers nothing yet)."""
    del subparsers
