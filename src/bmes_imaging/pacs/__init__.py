"""DICOM networking with a PACS (pynetdicom): C-ECHO, C-FIND, C-GET / C-MOVE, C-STORE.

``bmes pacs echo | find | retrieve | send`` and ``bmes screen --pacs`` use these
functions. Errors are :class:`PacsError` (a :class:`~bmes_imaging.errors.BmesError`)
naming the peer and the DIMSE status, never a patient.

Examples
--------
::

    from bmes_imaging.pacs import echo, find_studies, load_settings, retrieve
    pacs = load_settings(host="127.0.0.1", port=4242, called_aet="ORTHANC")
    echo(pacs)
    studies = find_studies(pacs, date="20240101-20241231")     # MR studies + series
    retrieve(pacs, studies, "archive/")                         # T1 and fluid series
"""

from ._association import echo
from ._query import FIND_COLUMNS, SeriesRecord, StudyRecord, find_studies, write_find_csv
from ._settings import PacsError, PacsSettings, load_settings, status_text
from ._transfer import RetrieveResult, SendResult, retrieve, send

__all__ = [
    "FIND_COLUMNS",
    "PacsError",
    "PacsSettings",
    "RetrieveResult",
    "SendResult",
    "SeriesRecord",
    "StudyRecord",
    "echo",
    "find_studies",
    "load_settings",
    "retrieve",
    "send",
    "status_text",
    "write_find_csv",
]
