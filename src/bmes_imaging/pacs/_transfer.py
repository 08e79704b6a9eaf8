"""C-GET / C-MOVE retrieval into a folder (resumable, with progress) and C-STORE sending.

Retrieved files go to ``OUT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``,
each written atomically, so a file that exists is complete. A second run asks the PACS
which instances a series holds (image-level C-FIND) and retrieves only the missing ones.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_bytes_atomic
from ._association import FIND, GET, MOVE, association
from ._query import SeriesRecord, StudyRecord, _identifier, find_instances
from ._settings import PacsError, PacsSettings, status_text

__all__ = ["RetrieveResult", "SendResult", "retrieve", "send"]

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
Progress = Callable[[str], None]


def _storage_classes() -> list[str]:
    from pydicom.uid import (
        Comprehensive3DSRStorage,
        ComprehensiveSRStorage,
        EnhancedMRImageStorage,
        EnhancedSRStorage,
        MRImageStorage,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        SecondaryCaptureImageStorage,
        SegmentationStorage,
    )

    return [MRImageStorage, EnhancedMRImageStorage, SegmentationStorage,
            Comprehensive3DSRStorage, ComprehensiveSRStorage, EnhancedSRStorage,
            SecondaryCaptureImageStorage, MultiFrameGrayscaleWordSecondaryCaptureImageStorage]


def _transfer_syntaxes() -> list[str]:
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGLosslessSV1,
        RLELossless,
    )

    return [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
            JPEGLosslessSV1, JPEG2000Lossless, RLELossless]


def _safe(uid: str) -> str:
    """A UID as a path component (anything else is never used as a path)."""
    if not _UID.match(uid) or len(uid) > 64:
        raise PacsError(f"the peer sent an object whose UID is not a DICOM UID ({uid[:70]!r})")
    return uid


@dataclass
class RetrieveResult:
    """What :func:`retrieve` did."""

    out: Path
    studies: int = 0
    series: list[Path] = field(default_factory=list)
    received: int = 0
    already_present: int = 0
    failed: int = 0


class _Sink:
    """Receives C-STORE requests (during C-GET on the association, during C-MOVE on our
    storage SCP) and writes each object atomically under ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.received = 0
        self.lock = threading.Lock()
        self.on_store: Callable[[], None] | None = None

    def path_of(self, study: str, series: str, sop: str) -> Path:
        return self.out / _safe(study) / _safe(series) / f"{_safe(sop)}.dcm"

    def handle(self, event: Any) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            target = self.path_of(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                                  str(ds.SOPInstanceUID))
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            write_bytes_atomic(target, buf.getvalue(), mode=0o600)
        except (PacsError, OSError, AttributeError, ValueError):
            return 0xA700  # Out of Resources: the peer reports it; we count the failure
        with self.lock:
            self.received += 1
            if self.on_store is not None:
                self.on_store()
        return 0x0000


def _retrieve_series(assoc: Any, settings: PacsSettings, study: str, series: str,
                     missing: Sequence[str], whole: bool) -> int:
    """C-GET (or C-MOVE) one series, or only the ``missing`` instances; failures."""
    queries = ([_identifier("SERIES", StudyInstanceUID=study, SeriesInstanceUID=series)]
               if whole else
               [_identifier("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series,
                            SOPInstanceUID=sop) for sop in missing])
    failed = 0
    op = "C-MOVE" if settings.move_aet else "C-GET"
    for query in queries:
        responses = (assoc.send_c_move(query, settings.move_aet, MOVE) if settings.move_aet
                     else assoc.send_c_get(query, GET))
        for status, _ in responses:
            if not status or "Status" not in status:
                raise PacsError(f"{op} {settings.peer}: no response (timeout or aborted)")
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                continue
            if code == 0xB000:  # warning: some sub-operations failed
                failed += int(status.get("NumberOfFailedSuboperations", 0) or 0)
            elif code != 0:
                raise PacsError(f"{op} {settings.peer} (series level): status "
                                f"{status_text(code, 'move' if settings.move_aet else 'get')}")
    return failed


def retrieve(settings: PacsSettings, studies: Iterable[StudyRecord], out: str | os.PathLike[str],
             *, all_series: bool = False, progress: Progress | None = None) -> RetrieveResult:
    """Retrieve the T1 and fluid-sensitive series of ``studies`` into ``out``.

    C-GET on the query association by default; C-MOVE to ``settings.move_aet`` with a
    storage SCP of ours on ``settings.store_host:store_port`` when a move AE is set.
    Resumable: instances already in ``out`` are not asked for again.

    Parameters
    ----------
    studies
        From :func:`find_studies`.
    all_series
        Every series of the studies, not only the screened (T1 and fluid) ones.
    progress
        Called with a short line per stored instance and per series.

    Raises
    ------
    PacsError
        No association, a failed C-GET / C-MOVE (peer and status named), or our storage
        SCP cannot listen.
    """
    from pynetdicom import build_role, evt

    result = RetrieveResult(Path(out))
    sink = _Sink(result.out)
    wanted = [(st, se) for st in studies for se in st.series if all_series or se.screened]
    result.studies = len({st.study_instance_uid for st, _ in wanted})
    syntaxes = _transfer_syntaxes()
    contexts: list[tuple[str, Any]] = [(FIND, None)]
    roles, handlers, server = [], [(evt.EVT_C_STORE, sink.handle)], None
    if settings.move_aet:
        contexts.append((MOVE, None))
        server = _start_scp(settings, sink)
        handlers = []
    else:
        contexts.append((GET, None))
        contexts += [(c, syntaxes) for c in _storage_classes()]
        roles = [build_role(c, scp_role=True) for c in _storage_classes()]
    try:
        op = "C-MOVE" if settings.move_aet else "C-GET"
        with association(settings, contexts, what=op, roles=roles, handlers=handlers) as assoc:
            for k, (st, se) in enumerate(wanted, start=1):
                _one_series(assoc, settings, sink, result, st, se,
                            f"series {k}/{len(wanted)}", progress)
    finally:
        if server is not None:
            server.shutdown()
    result.received = sink.received
    return result


def _one_series(assoc: Any, settings: PacsSettings, sink: _Sink, result: RetrieveResult,
                st: StudyRecord, se: SeriesRecord, label: str,
                progress: Progress | None) -> None:
    folder = sink.out / _safe(st.study_instance_uid) / _safe(se.series_instance_uid)
    sops = find_instances(assoc, settings, st.study_instance_uid, se.series_instance_uid)
    present = {p.stem for p in folder.glob("*.dcm")} if folder.is_dir() else set()
    missing = [s for s in sops if s not in present]
    result.already_present += len(sops) - len(missing)
    result.series.append(folder)
    name = f"{label} ({se.sequence}, {len(sops)} instances)"
    if not missing:
        if progress:
            progress(f"{name}: already complete")
        return
    before = sink.received

    def tick() -> None:
        if progress:
            progress(f"{name}: {len(sops) - len(missing) + sink.received - before}"
                     f"/{len(sops)}")

    sink.on_store = tick
    result.failed += _retrieve_series(assoc, settings, st.study_instance_uid,
                                      se.series_instance_uid, missing,
                                      whole=len(missing) == len(sops))
    sink.on_store = None
    got = sink.received - before
    if got < len(missing) and progress:
        progress(f"{name}: {len(missing) - got} instance(s) not received; run again to "
                 "resume")


def _start_scp(settings: PacsSettings, sink: _Sink) -> Any:
    from pynetdicom import AE, evt

    assert settings.move_aet is not None
    scp = AE(ae_title=settings.move_aet)
    scp.network_timeout = scp.acse_timeout = scp.dimse_timeout = settings.timeout
    for cx in _storage_classes():
        scp.add_supported_context(cx, _transfer_syntaxes())
    try:
        return scp.start_server((settings.store_host, int(settings.store_port)), block=False,
                                evt_handlers=[(evt.EVT_C_STORE, sink.handle)])
    except OSError as exc:
        raise PacsError(f"C-MOVE to {settings.move_aet}: our storage SCP cannot listen on "
                        f"{settings.store_host}:{settings.store_port}: {exc}") from None


@dataclass
class SendResult:
    """What :func:`send` did."""

    sent: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _dicom_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return files


def send(settings: PacsSettings, paths: Iterable[str | os.PathLike[str]], *,
         progress: Progress | None = None) -> SendResult:
    """C-STORE DICOM files (folders: every file in them) to the peer.

    Raises
    ------
    PacsError
        A file is not DICOM, no association, or the peer refused a presentation context.
        A refused instance (status) is listed in ``failed``, named by file and status.
    """
    import pydicom

    files = _dicom_files(paths)
    datasets = []
    for f in files:
        try:
            datasets.append((f, pydicom.dcmread(f)))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise PacsError(f"{f}: not a DICOM file to send: {exc}") from None
    contexts: dict[str, set[str]] = {}
    for _, ds in datasets:
        ts = str(ds.file_meta.TransferSyntaxUID)
        contexts.setdefault(str(ds.SOPClassUID), set()).update(
            {ts, *_transfer_syntaxes()[:2]})
    result = SendResult()
    with association(settings, [(c, sorted(t)) for c, t in contexts.items()],
                     what="C-STORE") as assoc:
        for k, (f, ds) in enumerate(datasets, start=1):
            status = assoc.send_c_store(ds)
            if not status or "Status" not in status:
                raise PacsError(f"C-STORE {settings.peer}: no response for {f.name} "
                                "(timeout or aborted)")
            code = int(status.Status)
            if code == 0 or 0xB000 <= code <= 0xBFFF:
                result.sent += 1
            else:
                result.failed.append((f, status_text(code, "store")))
            if progress:
                progress(f"sent {k}/{len(datasets)}")
    return result
