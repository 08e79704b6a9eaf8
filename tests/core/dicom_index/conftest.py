"""Fixtures for the folder index tests: small MR series written with ``write_series``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging import Volume
from bmes_imaging.dicom import write_series


def plane_affine(plane: str, spacing: tuple[float, float, float] = (0.8, 0.8, 3.0),
                 origin: tuple[float, float, float] = (-20.0, -20.0, -20.0)) -> np.ndarray:
    """RAS+ affine whose slice axis k is normal to ``plane``."""
    if plane == "sagittal":
        dirs = np.column_stack([[0, 1, 0], [0, 0, -1], [1, 0, 0]]).astype(float)
    elif plane == "coronal":
        dirs = np.column_stack([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).astype(float)
    elif plane == "axial":
        dirs = np.column_stack([[1, 0, 0], [0, -1, 0], [0, 0, 1]]).astype(float)
    elif plane == "oblique":
        c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
        dirs = np.column_stack([[1, 0, 0], [0, -c, -s], [0, -s, c]]).astype(float)
    else:
        raise ValueError(plane)
    a = np.eye(4)
    a[:3, :3] = dirs * np.asarray(spacing)
    a[:3, 3] = origin
    return a


SeriesMaker = Callable[..., list[Path]]


@pytest.fixture
def make_series() -> SeriesMaker:
    """Write a small MR series; returns its files.

    Keywords: ``out`` (folder), ``plane``, ``n`` slices, ``size`` (in-plane),
    ``description``, ``number``, ``attributes``, ``study``, ``series`` (UIDs),
    ``patient_id``, ``patient_name``, ``seed`` (UID seed), ``pattern`` (file names),
    ``shuffle``, ``origin``.
    """
    counter = {"n": 0}

    def make(out: Path, *, plane: str = "sagittal", n: int = 5, size: int = 8,
             description: str = "", number: int = 1,
             attributes: dict[str, Any] | None = None, study: str | None = None,
             series: str | None = None, patient_id: str = "P1",
             patient_name: str | None = "Test^Patient", seed: str | None = None,
             pattern: str | None = None, shuffle: int | None = 3,
             origin: tuple[float, float, float] = (-20.0, -20.0, -20.0),
             frame_of_reference: str | None = None) -> list[Path]:
        counter["n"] += 1
        tag = seed or f"s{counter['n']}"
        rng = np.random.default_rng(counter["n"])
        arr = rng.integers(0, 1000, size=(size, size, n)).astype(np.float32)
        vol = Volume(arr, plane_affine(plane, origin=origin))
        return write_series(
            vol, out, patient_id=patient_id, patient_name=patient_name,
            study_instance_uid=study, series_instance_uid=series,
            frame_of_reference_uid=frame_of_reference,
            series_number=number, series_description=description,
            attributes=attributes or {}, shuffle_seed=shuffle, uid_seed=tag,
            filename_pattern=pattern or f"{tag}_{{index:03d}}",
        )

    return make


@pytest.fixture
def study_uid() -> str:
    return "1.2.826.0.1.3680043.8.498.1"
