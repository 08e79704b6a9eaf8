"""Placeholder: sequence classification and pairing (being written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SeriesPair:
    """Placeholder."""

    t1: Any
    fluid: Any


def classify_stack(stack: Any) -> Any:
    """Placeholder."""
    raise NotImplementedError


def pair_series(index: Any) -> Any:
    """Placeholder."""
    raise NotImplementedError
