"""napari sample data: a phantom foot study (T1 + STIR), generated and cached on first use.

The study comes from, in order:

1. ``$BMES_SAMPLE_STUDY`` if set (a study folder);
2. the small study committed with the source, ``sample_data/study_p02_R/`` (source
   checkouts and editable installs);
3. a cache folder (``$BMES_CACHE`` or ``$XDG_CACHE_HOME/bmes-imaging`` or
   ``~/.cache/bmes-imaging``) ``/sample/study_p02_R``, written by
   :func:`bmes_imaging.phantom.write_study` the first time it is needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._layers import study_layer_data
from ._study import load_study, looks_like_dicom_folder

__all__ = ["SAMPLE_NAME", "cache_dir", "phantom_study", "sample_spec", "sample_study_dir"]

SAMPLE_NAME = "study_p02_R"
#: Pixel-size factor of the sample (the committed study is half the clinical matrix).
SAMPLE_RESOLUTION = 2.0
LayerDataTuple = tuple[Any, dict[str, Any], str]


def cache_dir() -> Path:
    """The per-user cache folder of bmes-imaging."""
    env = os.environ.get("BMES_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bmes-imaging"


def _committed_sample() -> Path | None:
    here = Path(__file__).resolve().parent
    for root in (here.parent.parent, Path.cwd()):
        candidate = root / "sample_data" / SAMPLE_NAME
        if candidate.is_dir() and looks_like_dicom_folder(candidate):
            return candidate
    return None


def sample_spec() -> Any:
    """The :class:`~bmes_imaging.phantom.PhantomSpec` of the sample study.

    The right foot of patient 2 of the study's Table 1 (``p02_R`` of the ``table1``
    phantom cohort) at half resolution, exactly as committed in ``sample_data/``
    (``bmes phantom --cohort table1 --foot p02_R --resolution 2``): talus edema,
    PatientID ``"2"`` so the clinical record links.
    """
    from bmes_imaging import phantom

    specs = dict(phantom.cohort_specs("table1", controls=0, resolution=SAMPLE_RESOLUTION))
    return specs[SAMPLE_NAME.removeprefix("study_")]


def sample_study_dir(*, generate: bool = True) -> Path:
    """The folder of the sample study, generating it into the cache if needed.

    Raises
    ------
    FileNotFoundError
        If ``generate`` is False and no sample study exists yet.
    """
    env = os.environ.get("BMES_SAMPLE_STUDY")
    if env:
        return Path(env)
    committed = _committed_sample()
    if committed is not None:
        return committed
    target = cache_dir() / "sample" / SAMPLE_NAME
    if looks_like_dicom_folder(target):
        return target
    if not generate:
        raise FileNotFoundError(f"{target}: the sample study has not been generated yet")
    from bmes_imaging import phantom

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SAMPLE_NAME}.", dir=target.parent))
    try:
        phantom.write_study(sample_spec(), tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not looks_like_dicom_folder(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def phantom_study() -> list[LayerDataTuple]:
    """Layer data of the sample phantom study: T1 and STIR in one RAS+ world frame."""
    folder = sample_study_dir()
    study = load_study(folder)
    layers = study_layer_data(study.t1, study.fluid, study_key=study.key)
    for _, params, _ in layers:
        params["metadata"]["bmes_imaging"].update(source=str(folder),
                                                  study_date=study.study_date)
    return layers
