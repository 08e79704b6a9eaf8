"""Placeholder: writing a Volume as a DICOM series (being written)."""

from __future__ import annotations

from typing import Any


def write_series(volume: Any, out_dir: Any, **kwargs: Any) -> Any:
    """Placeholder."""
    raise NotImplementedError
