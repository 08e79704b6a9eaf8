"""Typed errors of bmes-imaging.

Every error a user can provoke with bad input derives from :class:`BmesError`, so a
batch job can catch exactly the project's errors per study and let real bugs surface.
A message names the file, series or row (never a patient name or ID), says what was
expected, what was found, and what to do next.

Examples
--------
>>> from bmes_imaging.errors import DicomSeriesError, BmesError
>>> issubclass(DicomSeriesError, BmesError) and issubclass(DicomSeriesError, ValueError)
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlignmentError",
    "BmesError",
    "ClinicalRecordError",
    "DetectionError",
    "DicomFileError",
    "DicomSeriesError",
    "ExportError",
    "FindingError",
    "GeometryError",
    "NiftiError",
    "NotAFootError",
    "PhantomError",
    "StoreError",
]


class BmesError(Exception):
    """Base class of every error raised by bmes-imaging for bad input or state."""


class DicomFileError(BmesError, ValueError):
    """One DICOM file cannot be used (not DICOM, truncated, no pixels, undecodable).

    Parameters
    ----------
    path
        The offending file.
    reason
        What is wrong and, where possible, what the user can do.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DicomSeriesError(BmesError, ValueError):
    """A set of DICOM files does not form one loadable series.

    Raised for mixed series, missing or duplicate slices, uneven spacing beyond the
    tolerance, inconsistent image sizes, or a folder that holds several stacks.
    """


class GeometryError(BmesError, ValueError):
    """An affine or image geometry is missing, singular or inconsistent."""


class NiftiError(BmesError, ValueError):
    """A NIfTI file cannot be read or written as a bmes-imaging volume."""


class AlignmentError(BmesError, RuntimeError):
    """Two series cannot be aligned (no overlap, registration diverged)."""


class DetectionError(BmesError, RuntimeError):
    """Edema detection cannot run on the given study (no T1, no fluid series...)."""


class NotAFootError(DetectionError):
    """The study's header, field of view or atlas fit says it is not a foot or ankle
    (``bmes detect --force`` / ``force=True`` analyses it anyway)."""


class ClinicalRecordError(BmesError, ValueError):
    """A clinical record file or field is invalid.

    Parameters
    ----------
    message
        What is wrong, what was expected and what was found.
    source
        The file (or other source) the record came from.
    row
        1-based row number in the source file (header is row 1), if known.
    column
        Column name, if the problem is in one field.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.row = row
        self.column = column
        self.message = message
        where = []
        if self.source is not None:
            where.append(self.source)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class StoreError(BmesError, RuntimeError):
    """The annotation store cannot complete an operation (nothing was changed)."""


class ExportError(BmesError, RuntimeError):
    """An export (table, report, DICOM SEG) cannot be produced."""


class FindingError(BmesError, ValueError):
    """A bone finding cannot be built: unknown bone, grade outside 0-3, unknown status,
    a number that is none."""


class PhantomError(BmesError, ValueError):
    """A phantom study cannot be generated as asked (bad spec, unknown cohort)."""
