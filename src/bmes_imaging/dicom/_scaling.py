"""Which pixel value scale a loaded volume carries, and the vendor alternatives.

DICOM stores integers; three linear maps turn them into numbers:

``"rescale"`` (default)
    The Modality LUT: ``RescaleSlope * stored + RescaleIntercept`` per slice / frame
    (PixelValueTransformationSequence in Enhanced MR). What every viewer shows; what
    ``load_series`` always did. Stored values when the files have no rescale.
``"real_world"``
    RealWorldValueMappingSequence (0040,9096): ``RealWorldValueSlope * stored +
    RealWorldValueIntercept``, in the map's measurement units (e.g. Hz for a Philips
    field map). Applied per frame where the file has a linear map; frames without one
    keep the rescale (the SeriesInfo says so).
``"philips_precise"``
    Philips floating-point value: ``(RS * stored + RI) / (RS * SS)`` with SS the private
    scale slope (2005,100E), per frame. This is what dcm2niix writes for Philips by
    default; it differs from the rescaled value by the constant ``1 / (RS * SS)`` of
    each frame. Only for files holding that private tag.

The chosen scale and the others the files offer are stated in
``SeriesInfo.extra["value_scaling"]`` (:func:`scaling_available` /
:func:`apply_scaling`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SCALINGS", "apply_scaling", "mask_stored_bits", "scaling_available"]

#: The ``scaling`` choices of :func:`~bmes_imaging.dicom.load_series`.
SCALINGS = ("rescale", "real_world", "philips_precise")
_PHILIPS_SCALE_SLOPE = (0x2005, 0x100E)
_PHILIPS_FRAME_PRIVATE = (0x2005, 0x140F)
_NO_UNITS = {"", "1", "{counts}", "no units"}



def mask_stored_bits(src: NDArray[Any], bits_stored: int) -> NDArray[Any]:
    """Stored integer pixels with the bits above BitsStored cleared (sign-extended).

    Overlay bits or garbage in the high bits of a 12-in-16-bit image must not reach the
    values; signed data keep their two's complement sign from bit ``bits_stored - 1``.
    """
    bits = src.dtype.itemsize * 8
    if src.dtype.kind not in "iu" or bits_stored >= bits:
        return src
    if src.dtype.kind == "u":
        return src & np.array((1 << bits_stored) - 1, dtype=src.dtype)
    shift = bits - bits_stored
    return (src << shift) >> shift

def _float(v: Any) -> float | None:
    try:
        if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue":
            v = v[0]
        f = float(v)
    except (TypeError, ValueError, IndexError):
        return None
    return f if math.isfinite(f) else None


def _items(owner: Any, keyword: str) -> list[Any]:
    try:
        seq = owner.get(keyword) if owner is not None else None
    except Exception:  # noqa: BLE001 - a malformed sequence counts as absent
        return []
    return list(seq) if seq else []


def _real_world(owner: Any) -> tuple[float, float, str] | None:
    """Linear real-world map of a dataset / functional group item: slope, intercept,
    units. A map in physical units is preferred to a unitless one."""
    best = None
    for item in _items(owner, "RealWorldValueMappingSequence"):
        slope = _float(item.get("RealWorldValueSlope"))
        intercept = _float(item.get("RealWorldValueIntercept"))
        if slope is None or intercept is None or slope == 0:
            continue
        units = ""
        codes = _items(item, "MeasurementUnitsCodeSequence")
        if codes:
            units = str(codes[0].get("CodeValue") or "").strip()
        if best is None or (best[2] in _NO_UNITS and units not in _NO_UNITS):
            best = (slope, intercept, units)
    return best


def _philips_scale_slope(owner: Any) -> float | None:
    """Philips private scale slope (2005,100E), top level or in (2005,140F)."""
    if owner is None:
        return None
    try:
        if _PHILIPS_SCALE_SLOPE in owner:
            return _float(owner[_PHILIPS_SCALE_SLOPE].value)
        if _PHILIPS_FRAME_PRIVATE in owner:
            items = owner[_PHILIPS_FRAME_PRIVATE].value
            if items and _PHILIPS_SCALE_SLOPE in items[0]:
                return _float(items[0][_PHILIPS_SCALE_SLOPE].value)
    except Exception:  # noqa: BLE001 - a malformed private value counts as absent
        return None
    return None


def _frame_owners(ds: Any, frame_number: int) -> list[Any]:
    """Where a frame's values are: its per-frame group, the shared group, the top level."""
    owners = []
    if frame_number:
        per_frame = _items(ds, "PerFrameFunctionalGroupsSequence")
        if 0 < frame_number <= len(per_frame):
            owners.append(per_frame[frame_number - 1])
        owners.extend(_items(ds, "SharedFunctionalGroupsSequence")[:1])
    owners.append(ds)
    return owners


def scaling_available(ds: Any, frame_number: int = 0) -> dict[str, Any]:
    """The vendor scales a file offers for one frame (for SeriesInfo).

    Returns
    -------
    dict
        ``rescale_slope`` / ``rescale_intercept`` as stored, ``real_world_slope`` /
        ``real_world_intercept`` / ``real_world_units`` when a linear
        RealWorldValueMapping is present, ``philips_scale_slope`` when the Philips
        private scale slope is; empty otherwise.
    """
    out: dict[str, Any] = {}
    for owner in _frame_owners(ds, frame_number):
        for item in [owner, *_items(owner, "PixelValueTransformationSequence")[:1]]:
            slope = _float(item.get("RescaleSlope")) if hasattr(item, "get") else None
            if slope is not None and "rescale_slope" not in out:
                out["rescale_slope"] = slope
                out["rescale_intercept"] = _float(item.get("RescaleIntercept")) or 0.0
        rw = _real_world(owner)
        if rw is not None and "real_world_slope" not in out:
            out.update(real_world_slope=rw[0], real_world_intercept=rw[1],
                       real_world_units=rw[2])
        ss = _philips_scale_slope(owner)
        if ss is not None and "philips_scale_slope" not in out:
            out["philips_scale_slope"] = ss
    return out


def _datasets(paths: Sequence[Path]) -> dict[Path, Any]:
    import pydicom

    out = {}
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[p] = pydicom.dcmread(p, stop_before_pixels=True, force=True)
    return out


def apply_scaling(frames: Sequence[Any], scaling: str) -> dict[str, Any]:
    """Set each frame's slope / intercept to the chosen scale; say what was applied.

    Parameters
    ----------
    frames
        The stack's frames (:class:`._frames.Frame`); their ``slope`` / ``intercept``
        hold the rescale and are replaced for ``"real_world"`` / ``"philips_precise"``.
    scaling
        One of :data:`SCALINGS`.

    Returns
    -------
    dict
        ``applied`` (the scale used, in words), ``scaling`` (the choice) and, for the
        vendor scales, how many frames kept the rescale because the map is absent.

    Raises
    ------
    ValueError
        Unknown ``scaling``.
    DicomSeriesError
        ``"philips_precise"`` on files without the Philips scale slope.
    """
    from ..errors import DicomSeriesError

    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}; found {scaling!r}")
    rescaled = any(f.slope != 1.0 or f.intercept != 0.0 for f in frames)
    if scaling == "rescale":
        return {"scaling": "rescale",
                "applied": ("RescaleSlope / RescaleIntercept (Modality LUT)" if rescaled
                            else "none: stored values (the files hold no rescale)")}
    datasets = _datasets(sorted({f.path for f in frames}))
    kept = 0
    units: set[str] = set()
    for f in frames:
        owners = _frame_owners(datasets[f.path], f.frame_number)
        if scaling == "real_world":
            rw = next((m for m in (_real_world(o) for o in owners) if m is not None), None)
            if rw is None:
                kept += 1
                continue
            f.slope, f.intercept = rw[0], rw[1]
            units.add(rw[2])
        else:
            ss = next((s for s in (_philips_scale_slope(o) for o in owners)
                       if s is not None), None)
            if ss is None or ss == 0 or f.slope == 0:
                raise DicomSeriesError(
                    f"{f.path}: scaling='philips_precise' needs the Philips private scale "
                    "slope (2005,100E), which this file does not hold; load with the "
                    "default scaling='rescale'")
            f.slope, f.intercept = 1.0 / ss, f.intercept / (f.slope * ss)
    if scaling == "real_world":
        applied = ("RealWorldValueMapping slope / intercept"
                   + (f" (units {', '.join(sorted(u or 'none' for u in units))})"
                      if units else ""))
        if kept:
            applied += (f"; {kept} of {len(frames)} frames have no linear map and keep "
                        "the RescaleSlope / RescaleIntercept")
        return {"scaling": scaling, "applied": applied, "frames_without_map": kept}
    return {"scaling": scaling,
            "applied": "Philips precise value (RS * stored + RI) / (RS * SS), SS the "
                       "private scale slope (2005,100E)"}
