"""bmes-imaging: find, review and report bone marrow edema of the foot and ankle on MRI.

Everything common is reachable from the top level::

    import bmes_imaging as bm
    vol = bm.load_series("study/T1_SAG")       # Volume: .array, .affine (RAS+ mm)
    index = bm.index_folder("pacs_export/")     # patients / studies / series stacks

Heavy submodules are imported on first use, so ``import bmes_imaging`` stays fast and
never loads a GUI toolkit.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version
from typing import Any

try:  # one version: the installed distribution's (pyproject.toml)
    __version__ = _distribution_version("bmes-imaging")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

# a library logs, the application decides where to: no "No handlers" warning, and the
# caller's logging configuration is never changed by importing bmes_imaging
logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> module that defines it (imported lazily on first attribute access)
_EXPORTS: dict[str, str] = {
    "BmesError": "bmes_imaging.errors",
    "Bone": "bmes_imaging.bones",
    "BoneFinding": "bmes_imaging.detection",
    "ClinicalRecord": "bmes_imaging.clinical",
    "DetectionConfig": "bmes_imaging.detection",
    "PhantomSpec": "bmes_imaging.phantom",
    "SeriesInfo": "bmes_imaging.volume",
    "Volume": "bmes_imaging.volume",
    "bone_from_name": "bmes_imaging.bones",
    "classify_stack": "bmes_imaging.dicom",
    "detect_edema": "bmes_imaging.detection",
    "detect_study": "bmes_imaging.detection",
    "evaluate": "bmes_imaging.detection",
    "generate_study": "bmes_imaging.phantom",
    "index_folder": "bmes_imaging.dicom",
    "load_nifti": "bmes_imaging.volume",
    "load_series": "bmes_imaging.dicom",
    "open_store": "bmes_imaging.store",
    "pair_series": "bmes_imaging.dicom",
    "read_clinical_table": "bmes_imaging.clinical",
    "resample_to": "bmes_imaging.geometry",
    "screen": "bmes_imaging.screening",
    "vitamin_d_class": "bmes_imaging.clinical",
    "read_edema_seg": "bmes_imaging.export",
    "write_cohort": "bmes_imaging.phantom",
    "write_cohort_report": "bmes_imaging.export",
    "write_edema_seg": "bmes_imaging.export",
    "write_involvement_table": "bmes_imaging.export",
    "write_series": "bmes_imaging.dicom",
    "write_study": "bmes_imaging.phantom",
}

__all__ = [
    "BmesError",
    "Bone",
    "BoneFinding",
    "ClinicalRecord",
    "DetectionConfig",
    "PhantomSpec",
    "SeriesInfo",
    "Volume",
    "__version__",
    "bone_from_name",
    "classify_stack",
    "detect_edema",
    "detect_study",
    "evaluate",
    "generate_study",
    "index_folder",
    "load_nifti",
    "load_series",
    "open_store",
    "pair_series",
    "read_clinical_table",
    "read_edema_seg",
    "resample_to",
    "screen",
    "vitamin_d_class",
    "write_cohort",
    "write_cohort_report",
    "write_edema_seg",
    "write_involvement_table",
    "write_series",
    "write_study",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bmes_imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
