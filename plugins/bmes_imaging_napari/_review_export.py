"""The review's DICOM export: the confirmed edema as a SEG (and a TID 1500 SR beside it).

Non-Qt; called by :meth:`~bmes_imaging_napari._review_model.ReviewModel.export_seg`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bmes_imaging.findings import FindingStatus

__all__ = ["export_seg"]


def export_seg(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Write the model's confirmed edema (and its bones) as a DICOM SEG referencing the T1.

    Calls :func:`bmes_imaging.export.write_edema_seg`; only bones whose finding is
    ``confirmed`` get an edema segment. When a confirmed bone holds edema voxels, the
    TID 1500 SR is written beside the SEG (``<path stem>_sr.dcm``, issue 16) by
    :func:`bmes_imaging.export.write_edema_sr`. Returns the ``SegExport``.

    Raises
    ------
    ExportError
        If the T1 was not read from DICOM, nothing is confirmed, or no reader name.
    """
    from bmes_imaging.errors import ExportError
    from bmes_imaging.export import write_edema_seg

    if model.study is None or model.edema is None:
        raise ExportError("nothing to export: open a study and run detection first")
    if not model.study.t1.info.source_files:
        raise ExportError("the T1 series was not read from DICOM (NIfTI study); a "
                          "DICOM SEG must reference DICOM images: export NIfTI labels "
                          "instead (File > Save Selected Layers)")
    if not model.reader.strip():
        raise ExportError("enter the reader's name before exporting a SEG")
    edema = model.study.t1.with_array(np.ascontiguousarray(model.edema.array))
    if any(f.status == FindingStatus.CONFIRMED and np.any(edema.array == int(f.bone))
           for f in model.findings):
        from bmes_imaging.export import write_edema_sr

        sr = os.fspath(path).removesuffix(".dcm") + "_sr.dcm"
        return write_edema_sr(model.study.t1, sr, seg_path=path, edema=edema,
                              findings=model.findings, reader=model.reader,
                              bones=model.bones, **kwargs).seg
    return write_edema_seg(model.study.t1, path, edema=edema, findings=model.findings,
                           reader=model.reader, bones=model.bones, **kwargs)
