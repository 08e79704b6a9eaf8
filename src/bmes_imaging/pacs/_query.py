"""C-FIND: the studies (with their series) a query returns, series classified T1 / fluid."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._association import FIND, association
from ._settings import PacsError, PacsSettings, status_text

__all__ = ["FIND_COLUMNS", "SeriesRecord", "StudyRecord", "find_instances", "find_studies",
           "write_find_csv"]

#: Sequences retrieved for screening: T1 and the fluid-sensitive series.
SCREENED_SEQUENCES = ("t1", "stir", "t2fs", "pdfs")

#: Columns of ``bmes pacs find --csv``: one row per series.
FIND_COLUMNS = ("study_instance_uid", "patient_id", "study_date", "study_description",
                "modalities_in_study", "series_instance_uid", "series_number", "modality",
                "series_description", "sequence", "instances")

_DATE_RANGE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")


@dataclass
class SeriesRecord:
    """A series as the PACS describes it (C-FIND, series level)."""

    series_instance_uid: str
    series_number: int | None
    modality: str
    series_description: str
    instances: int | None
    sequence: str = "other"

    @property
    def screened(self) -> bool:
        """True for a T1 or fluid-sensitive MR series (what screening needs)."""
        return self.sequence in SCREENED_SEQUENCES


@dataclass
class StudyRecord:
    """A study as the PACS describes it, with its series."""

    study_instance_uid: str
    patient_id: str = field(repr=False, default="")
    study_date: str = ""
    study_description: str = ""
    modalities: str = ""
    series: list[SeriesRecord] = field(default_factory=list)


def _identifier(level: str, **values: Any) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _c_find(assoc: Any, query: Any, settings: PacsSettings) -> Iterator[Any]:
    for status, identifier in assoc.send_c_find(query, FIND):
        if not status or "Status" not in status:
            raise PacsError(f"C-FIND {settings.peer}: no response (timeout or aborted)")
        code = int(status.Status)
        if code in (0xFF00, 0xFF01):
            if identifier is not None:
                yield identifier
        elif code != 0:
            raise PacsError(f"C-FIND {settings.peer} ({query.QueryRetrieveLevel} level): "
                            f"status {status_text(code, 'find')}")


def _classify(desc: str, protocol: str, modality: str) -> str:
    """The toolkit's sequence classification from what a series-level C-FIND tells."""
    if modality != "MR":
        return "other"
    from ..dicom._sequence import classify_stack
    from ..dicom._series_stack import SeriesStack

    return classify_stack(SeriesStack("query", (), series_description=desc,
                                      protocol_name=protocol, modality=modality)).sequence


def _check_date(date: str | None) -> str:
    if not date:
        return ""
    if not _DATE_RANGE.match(date) or date == "-":
        raise PacsError(f"date {date!r}: expected YYYYMMDD or YYYYMMDD-YYYYMMDD")
    return date


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def find_studies(settings: PacsSettings, *, patient_id: str | None = None,
                 date: str | None = None, study_uid: str | None = None,
                 modality: str | None = "MR") -> list[StudyRecord]:
    """Studies matching the query, each with its series (of ``modality``; None: all).

    Parameters
    ----------
    patient_id, date, study_uid
        Matching keys (``date``: ``YYYYMMDD`` or a ``YYYYMMDD-YYYYMMDD`` range).
    modality
        Only studies holding this modality (ModalitiesInStudy) and only its series;
        ``None`` for every study and series.

    Raises
    ------
    PacsError
        No association or a failed C-FIND (the peer and the status are named).
    """
    study_query = _identifier(
        "STUDY", StudyInstanceUID=study_uid or "", PatientID=patient_id or "",
        StudyDate=_check_date(date), StudyDescription="", ModalitiesInStudy=modality or "")
    studies: list[StudyRecord] = []
    with association(settings, [(FIND, None)], what="C-FIND") as assoc:
        for ident in _c_find(assoc, study_query, settings):
            uid = str(ident.get("StudyInstanceUID", "") or "")
            if not uid or (study_uid and uid != study_uid):
                continue
            studies.append(StudyRecord(
                uid, str(ident.get("PatientID", "") or ""), str(ident.get("StudyDate", "") or ""),
                str(ident.get("StudyDescription", "") or ""),
                "\\".join(str(m) for m in (ident.get("ModalitiesInStudy") or []))
                if not isinstance(ident.get("ModalitiesInStudy"), str)
                else str(ident.get("ModalitiesInStudy"))))
        for study in studies:
            series_query = _identifier(
                "SERIES", StudyInstanceUID=study.study_instance_uid, SeriesInstanceUID="",
                SeriesNumber="", Modality=modality or "", SeriesDescription="",
                ProtocolName="", NumberOfSeriesRelatedInstances="")
            for ident in _c_find(assoc, series_query, settings):
                mod = str(ident.get("Modality", "") or "")
                if modality and mod != modality:
                    continue
                desc = str(ident.get("SeriesDescription", "") or "")
                study.series.append(SeriesRecord(
                    str(ident.get("SeriesInstanceUID", "")), _int(ident.get("SeriesNumber")),
                    mod, desc, _int(ident.get("NumberOfSeriesRelatedInstances")),
                    _classify(desc, str(ident.get("ProtocolName", "") or ""), mod)))
            study.series.sort(key=lambda s: (s.series_number is None, s.series_number or 0))
    return studies


def find_instances(assoc: Any, settings: PacsSettings, study_uid: str,
                   series_uid: str) -> list[str]:
    """SOP Instance UIDs of one series (image-level C-FIND on an open association)."""
    query = _identifier("IMAGE", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid,
                        SOPInstanceUID="")
    return [str(i.SOPInstanceUID) for i in _c_find(assoc, query, settings)
            if i.get("SOPInstanceUID")]


def write_find_csv(studies: list[StudyRecord], path: str | os.PathLike[str]) -> Path:
    """One row per series (:data:`FIND_COLUMNS`), every cell through ``csv_cell``."""
    from .._atomic import write_csv_atomic

    rows = []
    for st in studies:
        base = {"study_instance_uid": st.study_instance_uid, "patient_id": st.patient_id,
                "study_date": st.study_date, "study_description": st.study_description,
                "modalities_in_study": st.modalities}
        for se in st.series or [None]:  # type: ignore[list-item]
            row: dict[str, Any] = dict(base)
            if se is not None:
                row.update(series_instance_uid=se.series_instance_uid,
                           series_number=se.series_number, modality=se.modality,
                           series_description=se.series_description, sequence=se.sequence,
                           instances=se.instances)
            rows.append(row)
    return write_csv_atomic(path, FIND_COLUMNS, rows)
