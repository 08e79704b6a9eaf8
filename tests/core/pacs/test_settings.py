"""PACS settings, errors and the find CSV without a server."""

from __future__ import annotations

import csv
import gc
import socket
from pathlib import Path

import pytest

from bmes_imaging.errors import BmesError
from bmes_imaging.pacs import (
    PacsError,
    SeriesRecord,
    StudyRecord,
    echo,
    find_studies,
    load_settings,
    status_text,
    write_find_csv,
)


def test_settings_file_and_options(tmp_path: Path) -> None:
    f = tmp_path / "pacs.toml"
    f.write_text('[pacs]\nhost = "pacs.local"\nport = 11112\ncalled_aet = "PACS"\n')
    s = load_settings(f, port=4242, aet=None)
    assert (s.host, s.port, s.called_aet, s.aet) == ("pacs.local", 4242, "PACS", "BMES")
    assert s.peer == "PACS@pacs.local:4242"
    f.write_text('[pacs]\nhots = "typo"\n')
    with pytest.raises(PacsError, match=r"unknown PACS setting.*hots"):
        load_settings(f)
    with pytest.raises(PacsError, match="1-16 characters"):
        load_settings(None, called_aet="A_VERY_LONG_AE_TITLE")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# pynetdicom 3.0 leaves the socket of a refused TCP connection to the garbage collector
# (transport.AssociationSocket.connect): its ResourceWarning is third-party noise here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_peer_is_named_never_a_patient() -> None:
    s = load_settings(None, host="127.0.0.1", port=_closed_port(), called_aet="NOWHERE",
                      timeout=5)
    with pytest.raises(PacsError) as err:
        find_studies(s, patient_id="SECRET-PATIENT-42")
    assert isinstance(err.value, BmesError)
    assert f"NOWHERE@127.0.0.1:{s.port}" in str(err.value)
    assert "SECRET" not in str(err.value)
    with pytest.raises(PacsError, match="C-ECHO NOWHERE"):
        echo(s)
    gc.collect()  # the leaked sockets' warnings now, inside this filter


def test_status_text_names_the_meaning() -> None:
    assert status_text(0xA700, "find") == "0xA700 (Refused: Out of Resources)"
    assert status_text(0x1234).startswith("0x1234")


def test_find_csv_cells_are_inert(tmp_path: Path) -> None:
    study = StudyRecord("1.2.3", "=HYPERLINK(\"x\")", "20240101", "+evil", "MR",
                        [SeriesRecord("1.2.3.4", 3, "MR", "@SUM(A1)", 20, "t1")])
    write_find_csv([study], tmp_path / "f.csv")
    with (tmp_path / "f.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["patient_id"].startswith("'=") and row["study_description"] == "'+evil"
    assert row["series_description"] == "'@SUM(A1)" and row["sequence"] == "t1"
