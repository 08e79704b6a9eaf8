"""Validate clinical tables field by field and build :class:`ClinicalRecord` objects.

Every problem is collected (not only the first) as a
:class:`~bmes_imaging.errors.ClinicalRecordError` with the file, the row and the
column. Messages never repeat a patient key (it could be a name typed by mistake).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ..bones import Bone, bone_from_name
from ..errors import ClinicalRecordError
from ._classes import NMOL_L_PER_NG_ML
from ._records import KNOWN_COLUMNS, REQUIRED_COLUMNS, ClinicalRecord
from ._table import RawTable, read_raw_table

__all__ = [
    "ClinicalTableError",
    "parse_record_fields",
    "read_clinical_table",
    "validate_clinical_table",
]

# plausibility ranges (inclusive) of numeric fields: column -> (low, high, unit)
_RANGES: dict[str, tuple[float, float, str]] = {
    "age": (0, 120, "years"),
    "symptom_months": (0, 600, "months"),
    "complaint_to_visit_months": (0, 600, "months"),
    "follow_up_months": (0, 600, "months"),
    "esr_mm_h": (0, 200, "mm/h"),
    "crp_mg_l": (0, 500, "mg/L"),
    "rf": (0, 10000, "IU/mL"),
    "anti_ccp": (0, 10000, "U/mL"),
    "hemoglobin_g_dl": (2, 25, "g/dL"),
    "leukocytes_10e9_l": (0, 200, "10^9/L"),
    "aofas_initial": (0, 100, "points"),
    "aofas_final": (0, 100, "points"),
}
#: plausible serum 25(OH)D, ng/mL (exclusive low, inclusive high)
VITAMIN_D_RANGE_NG_ML = (0.0, 150.0)

_SEX = {"m": "M", "male": "M", "man": "M", "erkek": "M",
        "f": "F", "female": "F", "woman": "F", "kadın": "F", "kadin": "F"}
_SIDE = {"l": ("L",), "left": ("L",), "sol": ("L",),
         "r": ("R",), "right": ("R",), "sağ": ("R",), "sag": ("R",),
         "r+l": ("R", "L"), "l+r": ("L", "R"), "both": ("R", "L"),
         "bilateral": ("R", "L"), "r/l": ("R", "L"), "l/r": ("L", "R")}
_BOOL = {"yes": True, "y": True, "true": True, "1": True, "evet": True, "var": True,
         "no": False, "n": False, "false": False, "0": False, "hayır": False,
         "hayir": False, "yok": False}
_UNITS = {"ng/ml": "ng/mL", "µg/l": "ng/mL", "μg/l": "ng/mL", "ug/l": "ng/mL",
          "nmol/l": "nmol/L"}
_VITD_COLUMNS = {"vitamin_d": None, "vitd_ng_ml": "ng/mL", "vitd_nmol_l": "nmol/L"}
_PATIENT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")
_VALUE_UNIT = re.compile(r"^\s*(?P<num>[-+]?[\d.,]+)\s*(?P<unit>[^\d\s].*)?$")


class ClinicalTableError(ClinicalRecordError):
    """A clinical table holds one or more invalid fields; nothing was imported.

    ``row``/``column`` are those of the first problem; :attr:`errors` lists them all
    and the message shows each on its own line.
    """

    def __init__(self, errors: list[ClinicalRecordError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        lines = [first.message]
        if len(self.errors) > 1:
            lines.append(f"({len(self.errors)} problems in all; fix every one and import "
                         "again, nothing was imported)")
            lines.extend(f"  {e}" for e in self.errors[1:])
        else:
            lines[0] += " (nothing was imported; fix it and import again)"
        super().__init__("\n".join(lines), source=first.source, row=first.row,
                         column=first.column)


class _Row:
    """Accumulates the errors of one row."""

    def __init__(self, source: str, row: int | None, errors: list[ClinicalRecordError]):
        self.source, self.row, self.errors = source, row, errors

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(ClinicalRecordError(message, source=self.source, row=self.row,
                                               column=column))


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _number(row: _Row, column: str, value: Any, *, integer: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (datetime, date, time)):
        row.error(column, f"expected a number, found a date/time cell ({value}); format the "
                          "cell as a number")
        return None
    if isinstance(value, bool):
        row.error(column, "expected a number, found yes/no")
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if not _NUMBER.match(text):
            row.error(column, "expected a number, found text (not shown: it may "
                              "identify a patient)")
            return None
        number = float(text.replace(",", "."))
    if not math.isfinite(number):
        row.error(column, f"expected a finite number, found {value!r}")
        return None
    if integer and not number.is_integer():
        row.error(column, f"expected a whole number, found {value!r}")
        return None
    if column in _RANGES:
        low, high, unit = _RANGES[column]
        if not low <= number <= high:
            row.error(column, f"must be between {low:g} and {high:g} {unit}, found {number:g}")
            return None
    return number


def _bones(row: _Row, column: str, value: Any, *, required: bool) -> tuple[Bone, ...]:
    text = _cell_text(value)
    if text is None:
        if required:
            row.error(column, "is empty; name the affected bone(s), e.g. 'talus' or "
                              "'talus+navicular'")
        return ()
    bones: list[Bone] = []
    for part in re.split(r"\s*[+;,/]\s*", text):
        if not part:
            row.error(column, "an empty bone name between separators; join several bones "
                              "with '+'")
            continue
        try:
            bones.append(bone_from_name(part))
        except KeyError:
            valid = ", ".join(b.bone_name for b in Bone)
            row.error(column, f"unknown bone name (the text is not shown: it may identify a "
                              f"patient); expected one of: {valid}")
    return tuple(dict.fromkeys(bones))


def _vitamin_d(row: _Row, cells: Mapping[str, Any]) -> tuple[float | None, str | None]:
    present = [c for c in _VITD_COLUMNS if c in cells]
    if not present:
        return None, None
    column = present[0]
    value = cells[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    unit = _VITD_COLUMNS[column]
    if column == "vitamin_d":
        unit_text = _cell_text(cells.get("vitamin_d_unit"))
        if unit_text is not None:
            unit = _UNITS.get(unit_text.lower().replace(" ", ""))
            if unit is None:
                row.error("vitamin_d_unit", "unknown unit (not shown); expected 'ng/mL' or "
                                            "'nmol/L'")
                return None, None
    cell_unit = None
    if isinstance(value, str):
        m = _VALUE_UNIT.match(value)
        if m and m.group("unit"):
            cell_unit = _UNITS.get(m.group("unit").lower().replace(" ", ""))
            if cell_unit is None:
                row.error(column, "unknown unit after the number (not shown); expected "
                                  "'ng/mL' or 'nmol/L'")
                return None, None
            value = m.group("num")
    if cell_unit is not None:
        if unit is not None and unit != cell_unit:
            row.error(column, f"the value says {cell_unit} but the column is in {unit}; "
                              "make them agree")
            return None, None
        unit = cell_unit
    if unit is None:
        row.error("vitamin_d_unit", "25(OH)D has no unit; fill vitamin_d_unit with 'ng/mL' "
                                    "or 'nmol/L'")
        return None, None
    number = _number(row, column, value)
    if number is None:
        return None, None
    # rounded to 1e-6 ng/mL so that e.g. 74.88 nmol/L is exactly 30 ng/mL, not 29.999...
    ng_ml = round(number / NMOL_L_PER_NG_ML, 6) if unit == "nmol/L" else number
    low, high = VITAMIN_D_RANGE_NG_ML
    if not low < ng_ml <= high:
        hint = ""
        if unit == "ng/mL" and ng_ml > high:
            hint = "; if the value is in nmol/L, say so in vitamin_d_unit"
        row.error(column, f"25(OH)D must be above {low:g} and at most {high:g} ng/mL "
                          f"({high * NMOL_L_PER_NG_ML:.0f} nmol/L), found {number:g} {unit}"
                          f"{hint}")
        return None, None
    return ng_ml, unit


def parse_record_fields(cells: Mapping[str, Any], *, source: str = "record",
                        row: int | None = None,
                        errors: list[ClinicalRecordError] | None = None,
                        ) -> list[ClinicalRecord]:
    """Validate the cells of one table row and return its record(s) (two if bilateral).

    Parameters
    ----------
    cells
        Column name -> cell value (text, number, bool or ``None``).
    source, row
        Named in error messages.
    errors
        If given, problems are appended to it and ``[]`` is returned for an invalid
        row; if ``None``, the first problems are raised as :class:`ClinicalTableError`.
    """
    collect: list[ClinicalRecordError] = [] if errors is None else errors
    before = len(collect)
    r = _Row(source, row, collect)

    patient = _cell_text(cells.get("patient"))
    if patient is None:
        r.error("patient", "is empty; every row needs the pseudonymous patient key")
    elif not _PATIENT_KEY.match(patient):
        r.error("patient", "the patient key must be a pseudonymous code of letters, digits, "
                           "'-', '_' or '.' (at most 64), not a name; the value is not "
                           "repeated here")
    age = _number(r, "age", cells.get("age"), integer=True)
    if age is None and _cell_text(cells.get("age")) is None:
        r.error("age", "is empty; give the age at diagnosis in years")
    sex_text = _cell_text(cells.get("sex"))
    sex = None if sex_text is None else _SEX.get(sex_text.lower())
    if sex is None:
        r.error("sex", "expected M/F" + ("" if sex_text is None else
                                          ", found other text (not shown)"))
    side_text = _cell_text(cells.get("side"))
    sides = None if side_text is None else _SIDE.get(side_text.lower().replace(" ", ""))
    if sides is None:
        r.error("side", "expected 'L', 'R' or 'R+L' (bilateral)" + (
            "" if side_text is None else ", found other text (not shown)"))
    primary = _bones(r, "primary_bone", cells.get("primary_bone"), required=True)
    other = _bones(r, "other_bones", cells.get("other_bones"), required=False)
    both = set(primary) & set(other)
    if both:
        names = ", ".join(sorted(b.bone_name for b in both))
        r.error("other_bones", f"{names} is already a primary bone; list each bone once")
    numbers = {c: _number(r, c, cells.get(c)) for c in _RANGES if c != "age"}
    symptom, to_visit = numbers["symptom_months"], numbers["complaint_to_visit_months"]
    if symptom is not None and to_visit is not None and to_visit > symptom:
        r.error("complaint_to_visit_months",
                f"time from complaint to visit ({to_visit:g}) is longer than the symptom "
                f"duration ({symptom:g} months)")
    vit_d, vit_d_unit = _vitamin_d(r, cells)
    ra_text = _cell_text(cells.get("rheumatoid_arthritis"))
    ra = None
    if ra_text is not None:
        ra = _BOOL.get(ra_text.lower())
        if ra is None:
            r.error("rheumatoid_arthritis", "expected 'yes' or 'no', found other text "
                                            "(not shown)")

    if len(collect) > before:
        if errors is None:
            raise ClinicalTableError(collect)
        return []
    assert patient is not None and age is not None and sex is not None and sides is not None
    return [
        ClinicalRecord(
            patient=patient, age=int(age), sex=sex, side=side, primary_bones=primary,
            other_bones=other, symptom_months=symptom, complaint_to_visit_months=to_visit,
            vitamin_d_ng_ml=vit_d, vitamin_d_unit=vit_d_unit,
            esr_mm_h=numbers["esr_mm_h"], crp_mg_l=numbers["crp_mg_l"], rf=numbers["rf"],
            anti_ccp=numbers["anti_ccp"], hemoglobin_g_dl=numbers["hemoglobin_g_dl"],
            leukocytes_10e9_l=numbers["leukocytes_10e9_l"],
            aofas_initial=numbers["aofas_initial"], aofas_final=numbers["aofas_final"],
            follow_up_months=numbers["follow_up_months"], rheumatoid_arthritis=ra,
            source_row=row,
        )
        for side in sides
    ]


def _check_header(table: RawTable, errors: list[ClinicalRecordError]) -> None:
    src = table.source
    seen: dict[str, int] = {}
    for index, name in enumerate(table.header):
        if not name:
            if any(index < len(cells) and _cell_text(cells[index]) is not None
                   for _, cells in table.rows):
                errors.append(ClinicalRecordError(
                    f"column {index + 1} has values but no header; name it or delete it",
                    source=src, row=1, column=f"#{index + 1}"))
            continue
        if name in seen:
            errors.append(ClinicalRecordError(
                f"column appears twice (columns {seen[name] + 1} and {index + 1}); keep one",
                source=src, row=1, column=name))
        seen[name] = index
        if name not in KNOWN_COLUMNS:
            close = difflib.get_close_matches(name, sorted(KNOWN_COLUMNS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(ClinicalRecordError(
                f"unknown column{hint} (known columns: see the template, "
                "`bmes clinical template`)", source=src, row=1, column=name))
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(ClinicalRecordError(
                "required column is missing from the header row", source=src, row=1,
                column=name))
    vitd = [c for c in _VITD_COLUMNS if c in seen]
    if len(vitd) > 1:
        errors.append(ClinicalRecordError(
            f"25(OH)D is given in several columns ({', '.join(vitd)}); keep one",
            source=src, row=1, column=vitd[1]))
    if "vitamin_d_unit" in seen and "vitamin_d" not in seen:
        errors.append(ClinicalRecordError(
            "vitamin_d_unit without a vitamin_d column", source=src, row=1,
            column="vitamin_d_unit"))


def _check_table(table: RawTable) -> tuple[list[ClinicalRecord], list[ClinicalRecordError]]:
    errors: list[ClinicalRecordError] = []
    _check_header(table, errors)
    blocking = [e for e in errors if "unknown column" not in e.message]
    if blocking:  # rows cannot be read reliably (columns missing, doubled, unnamed...)
        return [], errors
    if not table.rows:
        return [], [*errors, ClinicalRecordError(
            "the table has a header but no data rows; add one row per patient or foot",
            source=table.source, row=2)]
    records: list[ClinicalRecord] = []
    feet: dict[tuple[str, str], int] = {}
    patients: dict[str, ClinicalRecord] = {}
    width = len(table.header)
    for number, cells in table.rows:
        extra = [c for c in cells[width:] if _cell_text(c) is not None]
        if extra:
            errors.append(ClinicalRecordError(
                f"row has {width + len(extra)} or more cells but the header has {width}; "
                "check for a stray separator or an unnamed column", source=table.source,
                row=number, column=None))
            continue
        mapping = {name: (cells[i] if i < len(cells) else None)
                   for i, name in enumerate(table.header) if name in KNOWN_COLUMNS}
        row_records = parse_record_fields(mapping, source=table.source, row=number,
                                          errors=errors)
        row_r = _Row(table.source, number, errors)
        for rec in row_records:
            if rec.foot in feet:
                row_r.error("patient", f"duplicate: the same patient and side "
                                       f"({rec.side}) is already on row {feet[rec.foot]}")
                continue
            first = patients.get(rec.patient)
            if first is not None:
                for attr in ("age", "sex", "rheumatoid_arthritis"):
                    if getattr(first, attr) != getattr(rec, attr):
                        row_r.error(attr,
                                    f"differs from row {first.source_row} of the same "
                                    f"patient ({getattr(first, attr)!r} there, "
                                    f"{getattr(rec, attr)!r} here)")
            else:
                patients[rec.patient] = rec
            feet[rec.foot] = number
            records.append(rec)
    # a row with two conflicting findings for one foot counts its errors once
    unique: dict[tuple[Any, ...], ClinicalRecordError] = {}
    for e in errors:
        unique.setdefault((e.row, e.column, e.message), e)
    return records, list(unique.values())


def _parse(path: str | Path) -> tuple[list[ClinicalRecord], list[ClinicalRecordError]]:
    table, errors = read_raw_table(path)
    if errors:
        return [], errors
    return _check_table(table)


def validate_clinical_table(path: str | Path) -> list[ClinicalRecordError]:
    """Check a clinical table and return every problem at once (empty list = valid).

    Parameters
    ----------
    path
        CSV (UTF-8) or XLSX file in the Table 1 layout or the template layout (see
        :mod:`bmes_imaging.clinical`).

    Returns
    -------
    list of ClinicalRecordError
        Each names the file, the row (header = row 1) and the column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("patient,age,sex,side,primary_bone\\n1,130,M,L,talus\\n")
    >>> [str(e) for e in validate_clinical_table(p)]
    ["t.csv, row 2, column 'age': must be between 0 and 120 years, found 130"]
    """
    return _parse(path)[1]


def read_clinical_table(path: str | Path) -> list[ClinicalRecord]:
    """Read and validate a clinical table; one :class:`ClinicalRecord` per foot.

    A bilateral patient (side ``R+L``) gives two records. The file is rejected as a
    whole if any field is invalid.

    Parameters
    ----------
    path
        CSV (UTF-8, ``,``/``;``/tab separated) or XLSX (first worksheet).

    Returns
    -------
    list of ClinicalRecord
        In file order.

    Raises
    ------
    ClinicalTableError
        (a :class:`~bmes_imaging.errors.ClinicalRecordError`) listing every problem,
        each with row and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("patient,age,sex,side,primary_bone,vitd_ng_ml\\n"
    ...                  "11,18,M,R+L,talus,12\\n")
    >>> [(r.side, r.vitamin_d_class) for r in read_clinical_table(p)]
    [('R', 'deficient'), ('L', 'deficient')]
    """
    records, errors = _parse(path)
    if errors:
        raise ClinicalTableError(errors)
    return records
