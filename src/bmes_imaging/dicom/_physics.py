"""Acquisition-physics evidence for the sequence classifier.

TR / TE alone cannot tell a fluid-sensitive TSE from an echo-planar BOLD, diffusion or
ASL series (long TR, intermediate TE) or a T1 from a field map's magnitude image. The
header says what was acquired; this module reads it:

* :func:`not_anatomy` names images that are never a T1 / STIR / T2-FS / PD-FS for
  marrow reading: localizers (ImageType ``LOCALIZER``, any slice count), echo-planar
  acquisitions (ScanningSequence ``EP``, GE ScanOptions ``EPI_GEMS``, Siemens mosaic,
  Siemens sequence names ``*ep...`` / ``ep_b...``, Philips ``FEEPI`` / ``SEEPI``, GE
  ``epi`` / ``epi2`` / ``epiRT``), diffusion (ImageType ``DIFFUSION`` / ``ADC`` /
  ``TRACEW`` / ``FA``, b-values in the Siemens sequence name ``*ep_b1000`` or the
  description ``b1000``), perfusion and ASL (ImageType ``PERFUSION`` / ``ASL`` /
  ``RCBF``...), fMRI (ImageType ``FMRI``, description ``bold`` / ``fmri``), phase,
  real / imaginary and field-map images (ImageType ``P`` / ``PHASE`` / ``FIELD_MAP``,
  Siemens ``*fm2d2r``, description ``field map`` / ``B0``);
* :func:`t1_by_sequence` names 3-D T1-weighted gradient-echo sequences by their vendor
  names: Siemens ``*tfl`` (MPRAGE) and ``*fl3d`` (FLASH / VIBE, flip angle >= 8 deg),
  Philips (3D) ``TFE`` / ``T1TFE``, GE ``efgre3d`` (BRAVO), ``fspgr`` / ``spgr``, and
  description words ``mprage``, ``bravo``, ``spgr``, ``vibe``, ``tfe``.

Both return the evidence in words, kept in the stack's ``sequence_reason``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._series_stack import SeriesStack

__all__ = ["not_anatomy", "t1_by_sequence"]

#: ImageType values (from the third on) and what they say.
_IMAGE_TYPE_KINDS: dict[str, str] = {
    "LOCALIZER": "localizer",
    "DIFFUSION": "diffusion", "ADC": "diffusion", "TRACEW": "diffusion",
    "TRACE": "diffusion", "FA": "diffusion", "EADC": "diffusion", "DTI": "diffusion",
    "TENSOR": "diffusion", "TENSOR_B0": "diffusion", "ISODWI": "diffusion",
    "PERFUSION": "perfusion", "RCBF": "perfusion", "RCBV": "perfusion",
    "CBF": "perfusion", "CBV": "perfusion", "MTT": "perfusion", "TTP": "perfusion",
    "ASL": "arterial spin labelling",
    "FMRI": "fMRI (BOLD)", "BOLD": "fMRI (BOLD)",
    "P": "phase image", "PHASE": "phase image", "PHASE MAP": "phase image",
    "R": "real-part image", "REAL": "real-part image", "I": "imaginary-part image",
    "IMAGINARY": "imaginary-part image",
    "FIELD_MAP": "field map", "B0": "field map", "B0_MAP": "field map",
    "B1": "field map", "B1_MAP": "field map",
    "MOSAIC": "echo-planar mosaic",
}
_SPLIT = re.compile(r"[^a-z0-9+*]+")
_B_VALUE = re.compile(r"^b(\d{2,5})$")
_DESCRIPTION_KINDS: dict[str, str] = {
    "bold": "fMRI (BOLD)", "fmri": "fMRI (BOLD)", "resting": "fMRI (BOLD)",
    "asl": "arterial spin labelling", "pcasl": "arterial spin labelling",
    "pasl": "arterial spin labelling", "casl": "arterial spin labelling",
    "cbf": "perfusion", "rcbf": "perfusion", "relcbf": "perfusion", "dsc": "perfusion",
    "perfusion": "perfusion",
    "fieldmap": "field map", "fmap": "field map", "b0map": "field map",
    "ep2d": "echo planar", "epi": "echo planar", "dwi": "diffusion", "dti": "diffusion",
    "adc": "diffusion", "tracew": "diffusion", "diff": "diffusion",
    "diffusion": "diffusion",
}
_GE_EPI_NAMES = ("epi", "epi2", "epirt", "epi_dti", "epi2_pepolar", "muse")


def _tokens(*texts: str) -> list[str]:
    out: list[str] = []
    for t in texts:
        out.extend(x for x in _SPLIT.split(t.lower()) if x)
    return out


def _sequence_name_kind(name: str) -> str | None:
    """What a Siemens / Philips / GE sequence name says (None: not a non-anatomy name)."""
    n = name.strip().lower()
    bare = n.lstrip("*")
    m = re.match(r"^(ep|re|ez)_?b(\d+)", bare)
    if m:
        return f"diffusion, b-value {m.group(2)}"
    if bare.startswith(("ep2d", "epfid", "epse", "epir", "ep_", "ep3d", "epi")) or \
            re.match(r"^ep\d", bare):
        return "echo planar"
    if bare.startswith(("fm2d", "fm3d", "fm_", "tfl2d1_b1", "b1map")):
        return "field map"
    if n in _GE_EPI_NAMES or re.search(r"(fe|se|ir)?epi\b", n) or "dwise" in n \
            or n.endswith("epi"):
        return "echo planar" if "dwi" not in n else "diffusion"
    if n in ("3-plane", "3plane", "3-pl loc", "tri-plane"):
        return "localizer"
    return None


def not_anatomy(stack: SeriesStack) -> tuple[str, str] | None:
    """``(kind, evidence)`` if the header shows a non-anatomy acquisition, else None.

    Parameters
    ----------
    stack
        A stack of the index.

    Returns
    -------
    tuple of str, or None
        The kind (``"localizer"``, ``"echo planar"``, ``"diffusion"``, ``"field map"``,
        ``"phase image"``, ...) and the evidence in words.

    Examples
    --------
    >>> from bmes_imaging.dicom._stacks import SeriesStack
    >>> not_anatomy(SeriesStack("1", (), scanning_sequence=("EP",)))
    ('echo planar', 'ScanningSequence EP (echo planar)')
    """
    types = [str(v).upper() for v in stack.image_type]
    if "LOCALIZER" in types:
        return "localizer", "ImageType LOCALIZER"
    for value in types[2:]:
        kind = _IMAGE_TYPE_KINDS.get(value)
        if kind:
            return kind, f"ImageType {value} ({kind})"
    if stack.mosaic_tiles:
        return "echo planar", f"Siemens mosaic of {stack.mosaic_tiles} slices (echo planar)"
    if "EP" in {s.upper() for s in stack.scanning_sequence}:
        return "echo planar", "ScanningSequence EP (echo planar)"
    options = {o.upper() for o in stack.scan_options}
    if options & {"EPI_GEMS", "EPI"}:
        return "echo planar", f"ScanOptions {'/'.join(sorted(options & {'EPI_GEMS', 'EPI'}))}"
    if stack.sequence_name:
        kind = _sequence_name_kind(stack.sequence_name)
        if kind:
            return kind.split(",")[0], f"sequence name '{stack.sequence_name}' ({kind})"
    tokens = _tokens(stack.series_description, stack.protocol_name)
    for t in tokens:
        m = _B_VALUE.match(t)
        if m and t not in ("b1",):
            return "diffusion", f"description word '{t}' (diffusion, b-value {m.group(1)})"
    toks = set(tokens)
    if "b0" in toks:
        return "field map", "description word 'b0' (field map or diffusion b = 0)"
    if "field" in toks and toks & {"map", "mapping", "maps"}:
        return "field map", "description says field map"
    for t in tokens:
        kind = _DESCRIPTION_KINDS.get(t)
        if kind:
            return kind, f"description word '{t}' ({kind})"
    return None


_T1_NAMES = (
    (re.compile(r"^\*?tfl3d"), "Siemens 3D turbo FLASH / MPRAGE"),
    (re.compile(r"^\*?tfl"), "Siemens turbo FLASH (MPRAGE-type)"),
    (re.compile(r"^(t1)?tfe$|^3d_?tfe|^t1_?tfe"), "Philips turbo field echo (MPRAGE-type)"),
    (re.compile(r"^efgre3d|^bravo"), "GE BRAVO (IR-prepared 3D fast SPGR)"),
    (re.compile(r"^f?spgr|^fspgr3d"), "GE spoiled gradient echo (SPGR)"),
)
_T1_WORDS = {"mprage": "MPRAGE", "mp-rage": "MPRAGE", "bravo": "GE BRAVO",
             "spgr": "spoiled gradient echo (SPGR)", "fspgr": "fast SPGR",
             "vibe": "Siemens VIBE (3D spoiled gradient echo)",
             "tfe": "Philips turbo field echo", "t1tfe": "Philips T1 turbo field echo",
             "flash3d": "3D FLASH", "fl3d": "3D FLASH"}


def t1_by_sequence(stack: SeriesStack) -> str | None:
    """Evidence of a T1-weighted 3-D gradient-echo sequence (vendor names), or None.

    Examples
    --------
    >>> from bmes_imaging.dicom._stacks import SeriesStack
    >>> t1_by_sequence(SeriesStack("1", (), sequence_name="*tfl3d1_16ns"))
    "sequence name '*tfl3d1_16ns' (Siemens 3D turbo FLASH / MPRAGE, T1-weighted)"
    """
    name = stack.sequence_name.strip().lower()
    if name:
        for pattern, what in _T1_NAMES:
            if pattern.match(name):
                if what.startswith("Philips") and stack.mr_acquisition_type == "2D":
                    continue  # a 2D TFE is not an MPRAGE
                return f"sequence name '{stack.sequence_name}' ({what}, T1-weighted)"
        if re.match(r"^\*?fl3d", name) and not re.match(r"^\*?fl3d\d*r", name):
            # (``*fl3d1r_t70``: ramped-pulse 3D FLASH, a time-of-flight angiogram)
            flip = stack.flip_angle
            if flip is None or flip >= 8:
                shown = "?" if flip is None else f"{flip:g}"
                return (f"sequence name '{stack.sequence_name}' (Siemens 3D FLASH / VIBE, "
                        f"flip angle {shown} deg: T1-weighted)")
    for t in _tokens(stack.series_description, stack.protocol_name):
        word = _T1_WORDS.get(t)
        if word and not (t == "tfe" and stack.mr_acquisition_type == "2D"):
            return f"description word '{t}' ({word}, T1-weighted)"
    return None
