"""Placeholder: series loading (being written)."""

from __future__ import annotations

from typing import Any


def load_series(source: Any, **kwargs: Any) -> Any:
    """Placeholder."""
    raise NotImplementedError
