"""The review's DICOM export: the confirmed edema as a SEG (and a TID 1500 SR beside it).

Non-Qt; called by :meth:`~bmes_imaging_napari._review_model.ReviewModel.export_seg`.
The encoding (highdicom, pure Python for most of a second) runs in the bone-mask worker
process when it is available (:func:`._bone_process.submit_export`): in a thread of the
napari process it would hold the GIL and freeze the window. The calling thread only
checks the request, hands over the arrays and waits (without the GIL). Without that
process (one CPU, or it broke) the export runs in the calling thread as before.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bmes_imaging.findings import FindingStatus

__all__ = ["export_seg", "write_export"]


def export_seg(model: Any, path: str | os.PathLike[str], *, in_process: bool = False,
               **kwargs: Any) -> Any:
    """Write the model's confirmed edema (and its bones) as a DICOM SEG referencing the T1.

    Calls :func:`bmes_imaging.export.write_edema_seg`; only bones whose finding is
    ``confirmed`` get an edema segment. When a confirmed bone holds edema voxels, the
    TID 1500 SR is written beside the SEG (``<path stem>_sr.dcm``, issue 16) by
    :func:`bmes_imaging.export.write_edema_sr`. Written in the bone-mask worker process
    unless ``in_process`` (or that process is not available). Returns the ``SegExport``.

    Raises
    ------
    ExportError
        If the T1 was not read from DICOM, nothing is confirmed, or no reader name.
    """
    from bmes_imaging.errors import ExportError

    if model.study is None or model.edema is None:
        raise ExportError("nothing to export: open a study and run detection first")
    if not model.study.t1.info.source_files:
        raise ExportError("the T1 series was not read from DICOM (NIfTI study); a "
                          "DICOM SEG must reference DICOM images: export NIfTI labels "
                          "instead (File > Save Selected Layers)")
    if not model.reader.strip():
        raise ExportError("enter the reader's name before exporting a SEG")
    edema = model.study.t1.with_array(np.ascontiguousarray(model.edema.array))
    confirmed_edema = any(f.status == FindingStatus.CONFIRMED
                          and np.any(edema.array == int(f.bone)) for f in model.findings)
    kwargs = dict(kwargs, edema=edema, findings=list(model.findings),
                  reader=model.reader, bones=model.bones)
    kind, target = ("sr" if confirmed_edema else "seg"), os.path.abspath(path)
    if not in_process:
        from ._bone_process import WorkerGone, submit_export

        future = submit_export(kind, model.study.t1, target, kwargs)
        if future is not None:
            try:
                return future.result()
            except WorkerGone:  # the process ended before answering: write here
                pass
    return write_export(kind, model.study.t1, target, kwargs)


def write_export(kind: str, t1: Any, path: str, kwargs: dict[str, Any]) -> Any:
    """Write the SEG (``kind="seg"``) or the SR beside the SEG (``"sr"``); the
    ``SegExport`` (any thread or process: this is what the worker process runs)."""
    if kind == "sr":
        from bmes_imaging.export import write_edema_sr

        sr = path.removesuffix(".dcm") + "_sr.dcm"
        return write_edema_sr(t1, sr, seg_path=path, **kwargs).seg
    from bmes_imaging.export import write_edema_seg

    return write_edema_seg(t1, path, **kwargs)
