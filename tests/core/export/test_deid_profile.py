"""De-identification by PS3.15 Table E.1-1, table-driven: a dataset with every attribute of
the table filled comes out with each one handled as the profile (and the options the
toolkit claims) says."""

from __future__ import annotations

import csv
import io
from datetime import date
from importlib import resources

import pydicom
import pytest
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset

from bmes_imaging.export import Pseudonymizer, deidentify_dataset

CLAIMED = ("rtn_pat_chars", "rtn_long_modif_dates")  # the options the toolkit applies
KEY = b"d" * 32


def _table() -> list[dict[str, str]]:
    text = resources.files("bmes_imaging.export").joinpath("data/ps3_15_e1_1.csv").read_text()
    return list(csv.DictReader(io.StringIO(
        "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")))))


def _action(row: dict[str, str]) -> str:
    act = row["basic"]
    for col in CLAIMED:
        if row[col]:
            act = row[col]
    return act


def _tag(text: str) -> int:
    return int(text.replace("x", "0"), 16)


def _value(tag: int, vr: str) -> object:
    marker = f"V{tag:08X}"
    if vr == "SQ":
        item = Dataset()
        item.PatientName = "DOE^NESTED"
        item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.9.7.{tag}"
        item.StudyDate = "20200315"
        return [item]
    return {
        "PN": f"DOE^{marker}", "DA": "20200315", "TM": "101010", "DT": "20200315101010",
        "AS": "045Y", "DS": "1.5", "IS": "7", "UI": f"1.2.826.0.1.3680043.9.{tag}",
        "US": 7, "SS": 7, "UL": 7, "SL": 7, "FL": 7.0, "FD": 7.0, "UV": 7, "SV": 7,
        "AT": 0x00100010, "OB": b"\x01\x02", "OW": b"\x01\x02", "OF": b"\x01\x02\x03\x04",
        "OD": b"\x01" * 8, "OL": b"\x01" * 4, "OV": b"\x01" * 8, "UN": b"\x01\x02",
        "UR": f"http://example.org/{marker}",
    }.get(vr, marker)


def _filled() -> tuple[Dataset, dict[int, tuple[dict[str, str], str, object]]]:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    filled: dict[int, tuple[dict[str, str], str, object]] = {}
    for row in _table():
        if row["tag"] == "private":
            continue
        tag = _tag(row["tag"])
        if tag >> 16 in (0x0000, 0x0002) or not dictionary_has_tag(tag):
            continue  # DIMSE command / file meta elements; tags newer than pydicom
        vr = dictionary_VR(tag).split(" or ")[0]
        value = _value(tag, vr)
        ds.add_new(tag, vr, value)
        filled[tag] = (row, vr, value)
    ds.PatientID = "PAT-7"  # the identifier the pseudonym is made from
    block = ds.private_block(0x0029, "ACME 1.1", create=True)
    block.add_new(0x10, "LO", "DOE^PRIVATE")
    return ds, filled


def test_table_is_the_standard_and_complete() -> None:
    rows = _table()
    assert len(rows) > 600  # E.1-1 holds some 650 attributes, never a hand-picked list
    text = resources.files("bmes_imaging.export").joinpath("data/ps3_15_e1_1.csv").read_text()
    assert "tools/deid_table.py" in text and "part15" in text
    named = {r["keyword"]: r for r in rows}
    # the 14 attributes that survived the former hand-picked list (issue 16)
    for kw in ("ImageComments", "SeriesDescription", "ProtocolName",
               "PerformedProcedureStepDescription", "RequestedProcedureDescription",
               "ReasonForStudy", "DerivationDescription", "ReferringPhysicianAddress",
               "PatientState", "MedicalAlerts", "RequestingService", "TextString",
               "AdmittingDiagnosesDescription", "StudyComments"):
        assert _action(named[kw]) not in ("", "K"), kw
    assert {_action(r) for r in rows} >= {"X", "Z", "D", "U", "K", "C", "X/Z", "X/D",
                                         "X/Z/D", "Z/D", "X/Z/U*"}


def test_every_attribute_is_handled_as_the_profile_says() -> None:
    ds, filled = _filled()
    assert len(filled) > 550
    out = deidentify_dataset(ds, Pseudonymizer(KEY))
    pseudo = Pseudonymizer(KEY)
    shifted = {str(out.get(0x00080020).value)}  # one shift for the whole patient
    assert shifted != {"20200315"}
    shift = date(2020, 3, 15) - date(int(next(iter(shifted))[:4]),
                                     int(next(iter(shifted))[4:6]),
                                     int(next(iter(shifted))[6:8]))
    assert 365 <= shift.days <= 3652
    seen: dict[str, int] = {}
    for tag, (row, vr, orig) in filled.items():
        act = _action(row)
        seen[act] = seen.get(act, 0) + 1
        elem = out.get(tag)
        kw = row["keyword"] or f"{tag:08X}"
        if tag in (0x00100010, 0x00100020):  # Z / Z/D: the patient's pseudonym instead
            assert str(elem.value).rstrip("^") == pseudo.patient("PAT-7"), kw
            continue
        present = elem is not None
        empty = present and (elem.value in (None, "", b"") or (vr == "SQ" and not elem.value))
        changed = present and not empty and elem.value != orig
        if act == "X":
            assert not present, kw
        elif act == "Z":
            assert empty, kw
        elif act == "K":
            assert present and elem.value == orig, kw
        elif act == "U":
            assert changed and str(elem.value) == pseudo.uid(str(orig)), kw
        elif act == "C":
            if vr == "DA":
                assert str(elem.value) == (date(2020, 3, 15) - shift).strftime("%Y%m%d"), kw
            elif vr == "DT":
                assert str(elem.value).startswith(
                    (date(2020, 3, 15) - shift).strftime("%Y%m%d")), kw
            elif vr == "TM":
                assert elem.value == orig, kw  # whole-day shift: times of day kept
            elif vr == "SQ":
                assert present and str(elem.value[0].PatientName) != "DOE^NESTED", kw
            else:
                assert not present, kw  # free text is removed, not cleaned
        else:  # combined actions: one of the alternatives, never the original value
            alternatives = act.split("/")
            ok = (not present and "X" in alternatives) or (empty and "Z" in alternatives)
            if vr == "SQ" and present and not empty:
                item = elem.value[0]
                cleaned = (str(item.get("PatientName", "")) != "DOE^NESTED" and str(
                    item.ReferencedSOPInstanceUID) != f"1.2.826.0.1.3680043.9.7.{tag}")
                ok = ok or (("D" in alternatives or "U*" in alternatives) and cleaned)
            elif changed:
                ok = ok or "D" in alternatives or "U*" in alternatives
            assert ok, f"{kw}: {act} gave {elem!r}"
    assert set(seen) >= {"X", "Z", "D", "U", "K", "C", "X/Z", "X/D", "X/Z/D", "Z/D",
                         "X/Z/U*"}, seen
    # nothing identifying survives anywhere (nested items and private blocks included)
    buf = io.BytesIO()
    out.save_as(buf, implicit_vr=False, little_endian=True)
    raw = buf.getvalue()
    assert b"DOE^" not in raw and b"PAT-7" not in raw
    kept = {t for t, (r, _, _) in filled.items() if _action(r) == "K"}
    for tag, (row, _vr, orig) in filled.items():
        if tag not in kept and isinstance(orig, str) and orig.startswith("V"):
            assert orig.encode() not in raw, row["keyword"]
    assert out.PatientIdentityRemoved == "YES"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [str(c.CodeValue) for c in out.DeidentificationMethodCodeSequence] == [
        "113100", "113108", "113107"]


def test_uids_and_dates_are_consistent_across_datasets() -> None:
    a, _ = _filled()
    b, _ = _filled()
    b.SOPInstanceUID = "1.2.826.0.1.3680043.9.99"
    out_a = deidentify_dataset(a, Pseudonymizer(KEY))
    out_b = deidentify_dataset(b, Pseudonymizer(KEY))
    assert out_a.StudyInstanceUID == out_b.StudyInstanceUID != "1.2.826.0.1.3680043.9.2097165"
    assert out_a.SOPInstanceUID != out_b.SOPInstanceUID
    assert out_a.StudyDate == out_b.StudyDate
    other = deidentify_dataset(_filled()[0], Pseudonymizer(b"e" * 32))
    assert other.StudyInstanceUID != out_a.StudyInstanceUID


@pytest.mark.parametrize("vr_date", ["20240229", "20240231"])
def test_odd_dates_do_not_break(vr_date: str) -> None:
    ds = Dataset()
    ds.PatientID, ds.StudyDate = "1", vr_date
    out = deidentify_dataset(ds, Pseudonymizer(KEY))
    assert out.StudyDate != vr_date and len(str(out.StudyDate)) == 8


def test_written_file_reads_back() -> None:
    ds, _ = _filled()
    out = deidentify_dataset(ds, Pseudonymizer(KEY))
    buf = io.BytesIO()
    out.save_as(buf, implicit_vr=False, little_endian=True)
    buf.seek(0)
    again = pydicom.dcmread(buf, force=True)
    assert again.PatientIdentityRemoved == "YES"
