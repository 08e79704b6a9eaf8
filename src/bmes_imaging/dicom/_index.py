"""Placeholder: folder index (being written)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RejectedFile:
    """A file the index did not use, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class SeriesStack:
    """Placeholder for one image stack."""

    stack_id: str
    files: tuple[Path, ...]


@dataclass
class FolderIndex:
    """Placeholder for the result of :func:`index_folder`."""

    stacks: list[SeriesStack]
    rejected: list[RejectedFile]


def index_folder(path: str | Path, **kwargs: Any) -> FolderIndex:
    """Placeholder."""
    raise NotImplementedError


def index_files(paths: Any, **kwargs: Any) -> FolderIndex:
    """Placeholder."""
    raise NotImplementedError
