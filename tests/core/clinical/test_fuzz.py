"""Arbitrary cell contents never crash the reader: valid records or ClinicalRecordError."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmes_imaging.clinical import TEMPLATE_COLUMNS, read_clinical_table
from bmes_imaging.errors import ClinicalRecordError, StoreError
from bmes_imaging.store._findings import coerce_finding

_CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "M", "F", "R+L", "talus", "talus+", "nmol/L", "ng/mL", "1e400",
                     "nan", "-0", "14,4", "35 nmol/L", "yes", "0x10", " 7 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-1000, 1000).map(str),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELL, min_size=len(TEMPLATE_COLUMNS),
                              max_size=len(TEMPLATE_COLUMNS)), min_size=1, max_size=4))
def test_random_cells_give_records_or_clinical_errors(rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_text(buf.getvalue(), encoding="utf-8")
        try:
            records = read_clinical_table(path)
        except ClinicalRecordError as exc:
            assert exc.row is not None
            return
    for r in records:
        assert r.sex in ("M", "F") and r.side in ("L", "R") and r.primary_bones


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-5, 20),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                   st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(finding=st.dictionaries(
    st.sampled_from(["bone", "grade", "fraction", "status", "confidence", "primary",
                     "edema_volume_ml", "source"]), _VALUE))
def test_random_findings_are_accepted_or_store_errors(finding: dict[str, object]) -> None:
    try:
        stored = coerce_finding(finding, default_source="reader")
    except StoreError:
        return
    assert stored.status in ("candidate", "confirmed", "rejected")
    assert stored.grade is None or 0 <= stored.grade <= 3
