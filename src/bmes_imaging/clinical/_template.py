"""The clinical template with labs and the packaged copy of the study's Table 1."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .._atomic import write_text_atomic
from ._records import TEMPLATE_COLUMNS

__all__ = ["sample_table_path", "template_text", "write_template"]

# Example rows of the template: invented values, pseudonymous keys.
_EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("P001", "37", "M", "R", "talus", "navicular", "4", "2", "7.9", "ng/mL", "24", "3.1",
     "8", "5", "14.2", "7.1", "52", "90", "16", "no"),
    ("P002", "51", "F", "L", "cuboid", "", "6", "1", "61.2", "nmol/L", "12", "1.0", "",
     "", "12.9", "6.4", "62", "92", "14", "no"),
    ("P003", "18", "M", "R+L", "talus", "calcaneus", "4", "1", "12", "ng/mL", "", "", "",
     "", "", "", "70", "88", "22", "no"),
)


def template_text() -> str:
    """The template CSV (header plus three example rows) as text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerows(_EXAMPLE_ROWS)
    return buf.getvalue()


def write_template(path: str | os.PathLike[str]) -> Path:
    """Write the documented clinical template (UTF-8 CSV) to ``path`` atomically.

    The columns are documented in :mod:`bmes_imaging.clinical._records`; the example
    rows show a single foot with labs, 25(OH)D in nmol/L, and a bilateral patient.
    Replace them with your patients (pseudonymous keys only).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bmes_imaging.clinical import read_clinical_table
    >>> p = write_template(pathlib.Path(tempfile.mkdtemp()) / "clinical.csv")
    >>> len(read_clinical_table(p))
    4
    """
    return write_text_atomic(path, template_text())


def sample_table_path() -> Path:
    """Path of the packaged copy of the study's Table 1 (``table1_clinical.csv``)."""
    return Path(__file__).with_name("data") / "table1_clinical.csv"
