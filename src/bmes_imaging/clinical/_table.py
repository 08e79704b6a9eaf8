"""Read the cells of a clinical table file (CSV or XLSX) without interpreting them.

File-level problems (empty file, wrong encoding, not a spreadsheet, merged cells) are
returned as :class:`~bmes_imaging.errors.ClinicalRecordError` objects naming row and
column; interpreting the cells is the job of :mod:`._validate`.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClinicalRecordError

__all__ = ["RawTable", "read_raw_table"]

_XLSX_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class RawTable:
    """Cells of a table: normalised header names and the data rows with their row number.

    ``rows`` holds ``(row_number, cells)`` with ``row_number`` 1-based as a spreadsheet
    shows it (header = row 1); fully empty rows are left out.
    """

    source: str
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


def _col_letter(index: int) -> str:
    """Spreadsheet column letter of 0-based column ``index``."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_name(header: list[str], index: int) -> str:
    if 0 <= index < len(header) and header[index]:
        return header[index]
    return f"column {_col_letter(index)}"


def _normalise_header(cells: list[Any]) -> list[str]:
    return ["" if c is None else str(c).strip().lstrip("\ufeff").strip().lower() for c in cells]


def _is_empty_row(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read_raw_table(path: str | Path) -> tuple[RawTable, list[ClinicalRecordError]]:
    """Read the cells of ``path`` (CSV/TSV UTF-8 or XLSX first worksheet).

    Returns
    -------
    (RawTable, list of ClinicalRecordError)
        The errors are file-level problems; when any is present the table may be
        incomplete and must not be imported.
    """
    p = Path(path)
    source = p.name
    if not p.is_file():
        return RawTable(source), [ClinicalRecordError(
            "no such file; check the path", source=str(p), row=None)]
    data = p.read_bytes()
    is_zip = data[:4] == b"PK\x03\x04"
    if p.suffix.lower() in _XLSX_SUFFIXES or is_zip:
        return _read_xlsx(p, source, data)
    if p.suffix.lower() == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return RawTable(source), [ClinicalRecordError(
            "this is an old Excel .xls workbook; save it as .xlsx or 'CSV UTF-8' and "
            "import again", source=source, row=1)]
    return _read_csv(source, data)


def _read_csv(source: str, data: bytes) -> tuple[RawTable, list[ClinicalRecordError]]:
    table = RawTable(source)
    if data.strip() in (b"", b"\xef\xbb\xbf"):
        return table, [ClinicalRecordError(
            "the file is empty; expected a header row (patient, age, sex, side, "
            "primary_bone, ...) and one row per patient or foot", source=source, row=1)]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 3 and b"\x00" in data[:200]):
        return table, [ClinicalRecordError(
            "the file is UTF-16 encoded (Excel 'Unicode Text'); save it as 'CSV UTF-8' "
            "and import again", source=source, row=1)]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    errors: list[ClinicalRecordError] = []
    lines = data.split(b"\n")
    header_guess = lines[0].decode("utf-8", errors="replace")
    delimiter = max((",", ";", "\t"), key=lambda d: (header_guess.count(d), d == ","))
    header_cells = _normalise_header(next(csv.reader([header_guess], delimiter=delimiter)))
    for number, raw in enumerate(lines, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            prefix = raw[:exc.start].decode("utf-8", errors="replace")
            col = prefix.count(delimiter)
            bad = raw[exc.start:exc.start + 1].hex().upper()
            errors.append(ClinicalRecordError(
                f"byte 0x{bad} is not valid UTF-8 (the file looks Latin-1 / Windows-1254 "
                "encoded); save it as 'CSV UTF-8' and import again",
                source=source, row=number, column=_column_name(header_cells, col)))
    if errors:
        return table, errors
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        first = True
        for cells in reader:
            if first:
                table.header = _normalise_header(cells)
                first = False
                continue
            if _is_empty_row(cells):
                continue
            table.rows.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as exc:
        errors.append(ClinicalRecordError(
            f"cannot split the line into cells ({exc}); check the quotes",
            source=source, row=reader.line_num))
    if not table.header or _is_empty_row(table.header):
        errors.append(ClinicalRecordError(
            "the first row is empty; expected the header row", source=source, row=1))
    return table, errors


def _read_xlsx(path: Path, source: str,
               data: bytes) -> tuple[RawTable, list[ClinicalRecordError]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    table = RawTable(source)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it skips (data validation, styles,
            # extensions); they do not change cell values
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            wb = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        return table, [ClinicalRecordError(
            f"not a readable XLSX workbook ({type(exc).__name__}); re-save it from Excel "
            "as .xlsx or export 'CSV UTF-8'", source=source, row=1)]
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        errors: list[ClinicalRecordError] = []
        if not rows or all(_is_empty_row(r) for r in rows):
            return table, [ClinicalRecordError(
                f"worksheet {ws.title!r} is empty; expected a header row (patient, age, "
                "sex, side, primary_bone, ...) and one row per patient or foot",
                source=source, row=1)]
        table.header = _normalise_header(rows[0])
        while table.header and not table.header[-1]:
            table.header.pop()
        for rng in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
            errors.append(ClinicalRecordError(
                f"merged cells {rng.coord} in worksheet {ws.title!r}: unmerge them and "
                "fill every cell (one value per cell)", source=source, row=rng.min_row,
                column=_column_name(table.header, rng.min_col - 1)))
        for number, cells in enumerate(rows[1:], start=2):
            if _is_empty_row(cells):
                continue
            table.rows.append((number, cells))
        return table, errors
    finally:
        wb.close()
