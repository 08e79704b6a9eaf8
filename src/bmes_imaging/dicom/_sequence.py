"""Sequence classification (T1, STIR, T2 / PD fat-suppressed) and T1-fluid pairing.

Bone marrow edema is read on a T1-weighted series (marrow dark) together with a
fluid-sensitive fat-suppressed series (marrow bright): STIR, T2 fat-suppressed or PD
fat-suppressed. :func:`classify_stack` names the sequence and plane of a stack from
header evidence across vendor conventions and records why; :func:`pair_series` picks,
per study and side, the T1 and fluid-sensitive series to compare.

Evidence, strongest first:

1. localizer / scout / survey images (ImageType LOCALIZER, description words, one
   series holding three orthogonal planes) are "other"; so is every acquisition the
   header shows is not an anatomy image (:mod:`._physics`: echo planar, diffusion,
   perfusion / ASL, fMRI, phase / field map), and every other stack of a series that
   holds one (:func:`classify_stacks`);
2. fluid-sensitive keywords in SeriesDescription / ProtocolName / SequenceName
   (Siemens ``t2_tirm``, ``stir``, ``t2_tse_fs``, ``pd_tse_fs``; GE ``STIR``,
   ``T2 FRFSE FS``, ``PD FS``, ``IDEAL`` water; Philips ``STIR``, ``T2W_SPAIR``,
   ``PDW_SPAIR``, ``SPIR``; Canon ``STIR``, ``FS T2WI``, ``PDWI FS``);
3. an inversion-recovery acquisition (ScanningSequence / SequenceVariant / ScanOptions
   ``IR``, Siemens ``*tir`` sequence names) with a short inversion time (STIR: 80-300 ms);
4. T1 keywords (``t1_tse``, ``Sag T1 FSE``, ``T1W_TSE``, ``T1WI``), then 3-D T1
   gradient-echo sequences by vendor name (Siemens ``*tfl`` MPRAGE, ``*fl3d``; Philips
   3D ``TFE``; GE BRAVO / SPGR; ``mprage``, ``vibe`` in the description);
5. TR / TE ranges (T1: TR <= 1000 ms, TE <= 30 ms; T2: TR >= 1500 ms, TE >= 60 ms;
   PD: TR >= 1500 ms, TE < 60 ms) combined with fat-suppression evidence (ScanOptions
   ``FS``, ``SFS``, ``CHESS``, ``SPAIR``, ``WE``, ImageType ``WATER``).

Examples
--------
>>> from bmes_imaging.dicom._stacks import SeriesStack
>>> st = SeriesStack("1.2.3", (), series_description="pd_tse_fs_sag",
...                  image_orientation=(0, 1, 0, 0, 0, -1))
>>> c = classify_stack(st)
>>> c.sequence, c.plane
('pd_fs', 'sagittal')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import GeometryError
from ..geometry import plane_of
from ._physics import not_anatomy, t1_by_sequence
from ._series_stack import LOCALIZER_WORDS, SeriesStack, _is_localizer
from ._volumes import load_problem


@runtime_checkable
class _HasStacks(Protocol):
    """Anything with the stacks of a folder (a :class:`~bmes_imaging.dicom.FolderIndex`)."""

    @property
    def stacks(self) -> Sequence[SeriesStack]: ...  # pragma: no cover


__all__ = [
    "Classification",
    "PairingResult",
    "SeriesPair",
    "classify_stack",
    "classify_stacks",
    "pair_series",
    "side_of",
]

#: Sequence names, in the project's words.
SEQUENCES = ("t1", "stir", "t2_fs", "pd_fs", "other")
#: Fluid-sensitive sequences, most preferred first.
FLUID_PREFERENCE = ("stir", "t2_fs", "pd_fs")
#: STIR inversion times at 1.5-3 T (ms); 0.2-1 T scanners use 75-150 ms.
STIR_TI_RANGE = (75.0, 300.0)

_FS_WORDS = frozenset({"fs", "fatsat", "fsat", "spair", "spir", "chess", "fatsup",
                       "fatsuppressed", "fatsuppression", "water", "wfs", "we", "fst",
                       "fatsaturation", "fsgems"})
_FS_OPTIONS = frozenset({"FS", "FSA", "FSS", "SFS", "FAT_SAT", "FATSAT", "CHESS", "SPAIR",
                         "SPIR", "WE", "FS_GEMS", "FAT SAT", "FSP"})
_DIXON_WORDS = frozenset({"dixon", "ideal", "mdixon", "flex", "dixn"})
_NON_WATER_DIXON = frozenset({"f", "fat", "in", "ip", "op", "opp", "inphase", "outphase",
                              "ff"})
_STIR_WORDS = frozenset({"stir", "tirm", "tir", "stirfs"})
_CONTRAST_WORDS = frozenset({"gd", "gad", "post", "postcontrast", "contrast", "kontrast",
                             "c+", "+c", "pc", "postgd", "kmli"})
_GLUED = re.compile(r"^(t1|t2|pd|dp)(w|wi)?(fs|spair|spir|fatsat|stir)$")
_T1 = re.compile(r"^t1(w|wi|fs|se|tse|fse|spair|spir|tfe|ffe|flash|vibe)?$")
_T2 = re.compile(r"^t2(w|wi|fs|tse|fse|spair|spir)?$")
_PD = re.compile(r"^(pd|dp|rho|pdw|pdwi|pdfs|dpfs|pdwfs|pdt2)$")
_SPLIT = re.compile(r"(?:[^\w+*]|_)+")
_PLANE_WORDS = {"sag": "sagittal", "sagittal": "sagittal", "cor": "coronal",
                "coronal": "coronal", "ax": "axial", "axial": "axial", "tra": "axial",
                "transverse": "axial", "trans": "axial", "obl": "oblique",
                "oblique": "oblique"}
_SIDE_WORDS = {"l": "L", "lt": "L", "left": "L", "links": "L", "sol": "L", "gauche": "L",
               "izq": "L", "sx": "L", "r": "R", "rt": "R", "right": "R", "rechts": "R",
               "sağ": "R", "droit": "R", "droite": "R", "dx": "R"}


@dataclass(frozen=True)
class Classification:
    """Sequence and plane of a stack, and the evidence.

    Attributes
    ----------
    sequence
        ``"t1"``, ``"stir"``, ``"t2_fs"``, ``"pd_fs"`` or ``"other"``.
    plane
        ``"sagittal"``, ``"axial"``, ``"coronal"``, ``"oblique"`` or None (unknown).
    reason
        The evidence, in words (e.g. ``"description 't2_tirm_sag' names STIR"``).
    fat_suppressed
        Fat suppression seen (description or ScanOptions); for a T1 this makes it a
        less suitable partner for edema reading.
    contrast
        The description says post-contrast.
    """

    sequence: str
    plane: str | None
    reason: str
    fat_suppressed: bool = False
    contrast: bool = False


def _tokens(*texts: str | None) -> list[str]:
    out: list[str] = []
    for t in texts:
        if t:
            out.extend(x for x in _SPLIT.split(t.lower()) if x)
    return out


def _names_sequence(text: str) -> bool:
    """True if ``text`` holds a word that names a weighting or sequence."""
    for t in _tokens(text):
        if (_T1.match(t) or _T2.match(t) or _PD.match(t) or _GLUED.match(t)
                or t in _STIR_WORDS or "stir" in t or "tirm" in t
                or t in ("flair", "dwi", "dixon", "ideal", "proton", "localizer", "survey")):
            return True
    return False


def _description(stack: SeriesStack) -> str:
    """The text to classify from: SeriesDescription when it names a sequence.

    ProtocolName (often a generic protocol such as "ANKLE T1 T2 PD") and, for Enhanced
    MR, PulseSequenceName are used only when the series description names none.
    """
    if _names_sequence(stack.series_description):
        return stack.series_description
    parts = [stack.series_description, stack.protocol_name]
    if stack.multiframe and stack.sequence_name:
        parts.append(stack.sequence_name)  # Enhanced MR PulseSequenceName (e.g. T1TFE)
    return " / ".join(p for p in parts if p)


def _fat_suppression(tokens: Sequence[str], stack: SeriesStack) -> str | None:
    """Evidence of fat suppression, or None."""
    toks = set(tokens)
    dixon = toks & _DIXON_WORDS
    if dixon:
        if toks & {"w", "water", "wat"}:
            return f"description names a {min(dixon).upper()} water image"
        if not toks & _NON_WATER_DIXON and "WATER" in stack.image_type:
            return "ImageType WATER (Dixon)"
    for t in tokens:
        if (t in _FS_WORDS and t not in ("water", "we")) or _GLUED.match(t):
            return f"description word '{t}'"
    if "fat" in toks and toks & {"sat", "sup", "supp", "suppressed", "saturation"}:
        return "description says fat saturation"
    opts = {o.upper() for o in stack.scan_options}
    hit = opts & _FS_OPTIONS
    if hit:
        return f"ScanOptions {'/'.join(sorted(hit))}"
    if "WATER" in stack.image_type or "W" in stack.image_type[2:3]:
        return "ImageType WATER"
    if "water" in toks and not dixon:
        return "description word 'water'"
    return None


def _is_ir(stack: SeriesStack) -> str | None:
    for name, vals in (("ScanningSequence", stack.scanning_sequence),
                       ("SequenceVariant", stack.sequence_variant),
                       ("ScanOptions", stack.scan_options)):
        if "IR" in {v.upper() for v in vals}:
            return f"{name} IR"
    sn = stack.sequence_name.lower().lstrip("*")
    if sn.startswith(("tir", "tseir", "fsir", "ir")):
        return f"sequence name '{stack.sequence_name}'"
    return None


def _fmt(v: float | None) -> str:
    return "?" if v is None else f"{v:g}"


def plane_for(stack: SeriesStack) -> tuple[str | None, str]:
    """Plane from ImageOrientationPatient, else from description words."""
    if stack.image_orientation is not None:
        try:
            return plane_of(stack.image_orientation), "orientation"
        except GeometryError:
            pass
    for t in _tokens(stack.series_description, stack.protocol_name):
        if t in _PLANE_WORDS:
            return _PLANE_WORDS[t], f"description word '{t}'"
    return None, "no orientation"


def classify_stack(stack: SeriesStack) -> Classification:
    """Classify a stack as T1, STIR, T2 fat-suppressed, PD fat-suppressed or other.

    Parameters
    ----------
    stack
        A stack from :func:`~bmes_imaging.dicom.index_folder`.

    Returns
    -------
    Classification
        Sequence, plane and the evidence used.

    Examples
    --------
    >>> from bmes_imaging.dicom._stacks import SeriesStack
    >>> classify_stack(SeriesStack("1", (), series_description="Sag T1 FSE")).sequence
    't1'
    >>> c = classify_stack(SeriesStack("2", (), series_description="COR IR",
    ...                    scanning_sequence=("IR",), inversion_time=160.0,
    ...                    repetition_time=4000.0, echo_time=40.0))
    >>> c.sequence, c.reason
    ('stir', 'ScanningSequence IR with short inversion time 160 ms (STIR)')
    """
    plane, _ = plane_for(stack)
    desc = _description(stack)
    tokens = _tokens(desc)
    fs = _fat_suppression(tokens, stack)
    contrast = (bool(set(tokens) & _CONTRAST_WORDS) or "+c" in desc.lower()
                or "+gd" in desc.lower())
    other = _not_anatomy_reason(stack, desc, tokens)
    if other is not None:
        seq, reason = "other", other
    else:
        seq, reason = (_by_keywords(stack, desc, tokens, fs, contrast)
                       or _by_timing(stack, fs))
    return Classification(seq, plane, reason, fs is not None, contrast)


_NOT_ANATOMY_WORDS = frozenset({"flair", "dwi", "adc", "diff", "trace", "ep2d", "tof", "swi",
                                "mip", "perfusion", "dti", "subtraction", "sub"})


def _not_anatomy_reason(stack: SeriesStack, desc: str, tokens: list[str]) -> str | None:
    """Why the stack is not a T1 / fluid-sensitive anatomy image (None if it may be one)."""
    toks = set(tokens)
    if stack.localizer or any(w in desc.lower() for w in LOCALIZER_WORDS) \
            or _is_localizer((), desc, ""):
        return _localizer_reason(stack, desc)
    physics = not_anatomy(stack)
    if physics is not None:
        return f"{physics[1]}: not a T1 / fluid-sensitive anatomy image"
    if {"dark", "fluid"} <= toks or "darkfluid" in toks:
        return f"description '{desc}' names dark-fluid (FLAIR)"
    if toks & _NOT_ANATOMY_WORDS:
        return f"description '{desc}' names {min(toks & _NOT_ANATOMY_WORDS).upper()}"
    if any(t.endswith("*") for t in tokens) or "t2star" in toks or "t2*" in desc.lower():
        return f"description '{desc}' names a T2* gradient echo"
    return None


def _by_keywords(stack: SeriesStack, desc: str, tokens: list[str], fs: str | None,
                 contrast: bool) -> tuple[str, str] | None:
    """Sequence and reason from the description's words and the inversion time."""
    ti = stack.inversion_time
    ir = _is_ir(stack)
    t1_word = next((t for t in tokens if _T1.match(t)), None)
    t2_word = next((t for t in tokens if _T2.match(t) or (t.startswith("t2") and
                    _GLUED.match(t))), None)
    pd_word = next((t for t in tokens if _PD.match(t) or (_GLUED.match(t) and
                    t.startswith(("pd", "dp")))), None)
    if "proton" in tokens and "density" in tokens:
        pd_word = "proton density"
    stir_word = next((t for t in tokens if t in _STIR_WORDS or "stir" in t or "tirm" in t),
                     None)
    # 1. fluid-sensitive keywords
    if stir_word:
        return "stir", f"description '{desc}' names STIR ('{stir_word}')"
    if t2_word and fs and not t1_word:
        return "t2_fs", f"description '{desc}' names T2 ('{t2_word}'), fat suppression: {fs}"
    if pd_word and fs and not t1_word:
        return "pd_fs", f"description '{desc}' names PD ('{pd_word}'), fat suppression: {fs}"
    # 2. inversion recovery with a short TI
    if ir and ti is not None and STIR_TI_RANGE[0] <= ti <= STIR_TI_RANGE[1] \
            and not t1_word:
        return "stir", f"{ir} with short inversion time {_fmt(ti)} ms (STIR)"
    if ir and ti is not None and ti >= 1500:
        return "other", f"{ir} with long inversion time {_fmt(ti)} ms (FLAIR-like)"
    # 3. T1 keywords
    if t1_word:
        extra = ", fat-suppressed" if fs else ""
        extra += ", post-contrast" if contrast else ""
        return "t1", f"description '{desc}' names T1 ('{t1_word}'){extra}"
    t1_sequence = t1_by_sequence(stack)
    if t1_sequence and not (t2_word or pd_word):
        return "t1", t1_sequence + (", fat-suppressed" if fs else "")
    if t2_word or pd_word:
        what = "T2" if t2_word else "PD"
        return "other", (f"description '{desc}' names {what} without fat suppression "
                         "(not fluid-sensitive for marrow)")
    return None


def _by_timing(stack: SeriesStack, fs: str | None) -> tuple[str, str]:
    """4. Sequence and reason from TR / TE (and TI, flip angle) when no word decided."""
    ti, ir = stack.inversion_time, _is_ir(stack)
    tr, te = stack.repetition_time, stack.echo_time
    if tr is None or te is None:
        return "other", "no description keyword and no TR/TE to judge from"
    timing = f"TR {_fmt(tr)} ms, TE {_fmt(te)} ms"
    gre = "GR" in {s.upper() for s in stack.scanning_sequence} and \
        "SE" not in {s.upper() for s in stack.scanning_sequence}
    if ir and ti is not None and 300 < ti < 1500:
        return "t1", f"{ir} with inversion time {_fmt(ti)} ms (T1-weighted IR)"
    if gre:
        flip = stack.flip_angle
        if tr <= 100 and te <= 10 and flip is not None and flip >= 30 and not fs:
            return "t1", (f"spoiled gradient echo with {timing}, flip angle "
                          f"{_fmt(flip)}° (T1-weighted)")
        return "other", (f"gradient echo with {timing}, flip angle {_fmt(flip)}°: "
                         "not a T1 / fluid-sensitive sequence")
    if tr <= 1000 and te <= 30:
        return "t1", f"{timing} (T1-weighted)" + (", fat-suppressed" if fs else "")
    if tr >= 1500 and te >= 60:
        if fs:
            return "t2_fs", f"{timing} (T2-weighted), fat suppression: {fs}"
        return "other", f"{timing} (T2-weighted) without fat suppression"
    if tr >= 1500 and te < 60:
        if fs:
            return "pd_fs", f"{timing} (PD-weighted), fat suppression: {fs}"
        return "other", f"{timing} (PD-weighted) without fat suppression"
    return "other", f"{timing}: no recognised weighting"


def _localizer_reason(stack: SeriesStack, desc: str) -> str:
    if "LOCALIZER" in {str(v).upper() for v in stack.image_type}:
        return "localizer (ImageType LOCALIZER)"
    if _is_localizer((), stack.series_description, stack.protocol_name) or \
            _is_localizer((), desc, ""):
        return f"localizer (description '{desc}')"
    return "localizer (one series holding orthogonal planes of a few slices each)"


#: Sequences a series-mate's evidence can overrule (anatomy classifications).
_ANATOMY = ("t1", "stir", "t2_fs", "pd_fs")


def classify_stacks(stacks: Sequence[SeriesStack]) -> list[SeriesStack]:
    """Classify every stack and fill sequence, reason, plane and laterality.

    A stack of a series whose other stack is shown by its header to be a non-anatomy
    image (field map, phase, diffusion, EPI...) is not classified T1 / fluid-sensitive
    either: e.g. the magnitude half of a Philips B0 field map, the b = 0 volume of a
    diffusion series. Its reason names that stack's evidence.

    Parameters
    ----------
    stacks
        Stacks built by the index (sequence not yet set).

    Returns
    -------
    list of SeriesStack
        Copies with ``sequence``, ``sequence_reason``, ``plane``, ``laterality`` and
        ``laterality_source`` set, in the same order.
    """
    found = [(classify_stack(st), side_of(st)) for st in stacks]
    per_series: dict[str | None, int] = {}
    for st in stacks:
        per_series[st.series_instance_uid] = per_series.get(st.series_instance_uid, 0) + 1
    evidence: dict[str | None, str] = {}
    for st in stacks:  # only series split into several stacks can have a mate
        if st.series_instance_uid and per_series[st.series_instance_uid] > 1:
            physics = not_anatomy(st)
            if physics is not None:
                evidence.setdefault(st.series_instance_uid, physics[1])
    out = []
    for st, (c, (side, side_source)) in zip(stacks, found, strict=True):
        sequence, reason = c.sequence, c.reason
        mate = evidence.get(st.series_instance_uid)
        if sequence in _ANATOMY and mate is not None:
            reason = (f"same series as a non-anatomy stack ({mate}); would otherwise be "
                      f"{sequence}: {reason}")
            sequence = "other"
        out.append(st.replace(sequence=sequence, sequence_reason=reason, plane=c.plane,
                              laterality=side, laterality_source=side_source))
    return out


def side_of(stack: SeriesStack) -> tuple[str | None, str]:
    """Laterality of a stack: ``"L"``, ``"R"`` or None, and where it came from.

    Laterality (0020,0060) / ImageLaterality (0020,0062) first, then words in the
    series / protocol / study description and body part (``RT``, ``LEFT``, ``_R_``,
    Turkish ``sağ`` / ``sol``...).

    Examples
    --------
    >>> from bmes_imaging.dicom._stacks import SeriesStack
    >>> side_of(SeriesStack("1", (), series_description="PD_FS_SAG_R_ANKLE"))
    ('R', "description word 'r'")
    """
    if stack.laterality in ("L", "R"):
        return stack.laterality, stack.laterality_source or "Laterality tag"
    found: dict[str, str] = {}
    for t in _tokens(stack.series_description, stack.protocol_name, stack.body_part,
                     stack.study_description):
        side = _SIDE_WORDS.get(t)
        if side:
            found.setdefault(side, t)
    if len(found) == 1:
        side, word = next(iter(found.items()))
        return side, f"description word '{word}'"
    if len(found) == 2:
        return None, "description names both sides"
    return None, "no laterality tag or side word"


@dataclass(frozen=True)
class SeriesPair:
    """The T1 and fluid-sensitive stacks chosen for one study and side.

    Attributes
    ----------
    study_instance_uid, patient_id, side
        The study, its PatientID (for linking; never log it) and ``"L"``/``"R"``/None.
    t1, fluid
        The chosen stacks.
    reason
        Why these two (fluid preference, plane, coverage overlap).
    same_plane
        Both acquired in the same plane.
    overlap
        Fraction of the T1 field of view covered by the fluid series (None if unknown).
    """

    study_instance_uid: str | None
    patient_id: str | None = field(repr=False)
    side: str | None
    t1: SeriesStack
    fluid: SeriesStack
    reason: str
    same_plane: bool = False
    overlap: float | None = None


@dataclass
class PairingResult:
    """Output of :func:`pair_series`.

    Attributes
    ----------
    pairs
        One :class:`SeriesPair` per study and side that has both series.
    unpaired
        ``(study_instance_uid, side, reason)`` for the others (``"no T1"``,
        ``"no fluid-sensitive series"``, ``"no T1 and no fluid-sensitive series"``).
    """

    pairs: list[SeriesPair] = field(default_factory=list)
    unpaired: list[tuple[str | None, str | None, str]] = field(default_factory=list)


def _box(stack: SeriesStack) -> tuple[np.ndarray, np.ndarray] | None:
    """Axis-aligned LPS bounding box of the stack's field of view, or None."""
    pos = [p for p in stack.positions if p is not None]
    iop = stack.image_orientation
    if not pos or iop is None or not stack.rows or not stack.columns \
            or stack.pixel_spacing is None:
        return None
    a = np.asarray(iop, dtype=float)
    row_dir, col_dir = a[:3], a[3:]
    drow, dcol = stack.pixel_spacing  # between rows, between columns
    corners = []
    for p in (pos[0], pos[-1]):
        o = np.asarray(p, dtype=float)
        for i in (0, stack.columns - 1):
            for j in (0, stack.rows - 1):
                corners.append(o + row_dir * dcol * i + col_dir * drow * j)
    c = np.asarray(corners)
    half = 0.5 * (stack.slice_thickness or 0.0)
    normal = np.abs(np.cross(row_dir, col_dir))
    return c.min(axis=0) - normal * half, c.max(axis=0) + normal * half


def coverage_overlap(t1: SeriesStack, fluid: SeriesStack) -> float | None:
    """Fraction of the T1 bounding box covered by the fluid series' bounding box."""
    a, b = _box(t1), _box(fluid)
    if a is None or b is None:
        return None
    lo = np.maximum(a[0], b[0])
    hi = np.minimum(a[1], b[1])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    ext = np.clip(a[1] - a[0], 1e-3, None)
    return min(1.0, inter / float(np.prod(ext)))


def _candidates(stacks: Iterable[SeriesStack]) -> list[SeriesStack]:
    return [s for s in stacks if not s.localizer and s.n_images >= 3
            and (s.modality in (None, "MR"))]


def pair_series(index_or_stacks: _HasStacks | Iterable[SeriesStack]) -> PairingResult:
    """Choose, per study and side, the T1 and the fluid-sensitive series to compare.

    Only stacks the loader can read are chosen (:func:`._volumes.load_problem`: no
    repeated positions, even slice gaps). Fluid preference STIR > T2 fat-suppressed >
    PD fat-suppressed; then original spin-echo / inversion-recovery anatomy images
    over gradient-echo and derived ones; then the same plane as a T1, then the best
    coverage overlap, then a T1 without fat
    suppression or contrast, then more images.

    Parameters
    ----------
    index_or_stacks
        A :class:`~bmes_imaging.dicom.FolderIndex` or stacks.

    Returns
    -------
    PairingResult
        Pairs, and studies/sides that cannot be paired with the reason.
    """
    stacks: list[SeriesStack] = list(
        index_or_stacks.stacks if isinstance(index_or_stacks, _HasStacks)
        else index_or_stacks)
    groups: dict[tuple[str | None, str | None], list[SeriesStack]] = {}
    study_sides: dict[str | None, set[str]] = {}
    sided: list[tuple[SeriesStack, str | None]] = []
    for s in _candidates(stacks):
        side, _ = side_of(s)
        sided.append((s, side))
        if side:
            study_sides.setdefault(s.study_instance_uid, set()).add(side)
    for s, side in sided:
        if side is None:
            known = study_sides.get(s.study_instance_uid, set())
            if len(known) == 1:
                side = next(iter(known))  # the study shows one side only
            elif len(known) == 2:
                continue  # cannot tell which foot this series shows
        groups.setdefault((s.study_instance_uid, side), []).append(s)
    result = PairingResult()
    for (study, side), members in sorted(groups.items(),
                                         key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        pair = _choose(study, side, members)
        if isinstance(pair, str):
            result.unpaired.append((study, side, pair))
        else:
            result.pairs.append(pair)
    return result


def _anatomy_rank(stack: SeriesStack) -> int:
    """Preference among stacks of one sequence: original spin-echo / inversion-recovery
    anatomy images first, then other original images, derived images (MPR, subtraction)
    last."""
    derived = bool(stack.image_type) and stack.image_type[0].upper() == "DERIVED"
    spin = bool({s.upper() for s in stack.scanning_sequence} & {"SE", "IR"})
    return (0 if derived else 2) + (1 if spin else 0)


def _unloadable(stacks: Iterable[SeriesStack]) -> str:
    parts = [f"series {s.series_number if s.series_number is not None else '?'} "
             f"({load_problem(s)})" for s in stacks]
    return ", ".join(parts[:4]) + (f" and {len(parts) - 4} more" if len(parts) > 4 else "")


def _choose(study: str | None, side: str | None,
            members: list[SeriesStack]) -> SeriesPair | str:
    t1_all = [s for s in members if s.sequence == "t1"]
    fluid_all = [s for s in members if s.sequence in FLUID_PREFERENCE]
    # never a stack the loader would refuse (repeated positions, uneven gaps)
    t1s = [s for s in t1_all if load_problem(s) is None]
    fluids = [s for s in fluid_all if load_problem(s) is None]
    if not t1_all and not fluid_all:
        return "no T1 and no fluid-sensitive series"
    if not t1s:
        return "no T1" if not t1_all else \
            f"no loadable T1 ({_unloadable(t for t in t1_all)} cannot be loaded)"
    if not fluids:
        return "no fluid-sensitive series" if not fluid_all else \
            ("no loadable fluid-sensitive series "
             f"({_unloadable(f for f in fluid_all)} cannot be loaded)")
    best: tuple[Any, ...] | None = None
    chosen: tuple[SeriesStack, SeriesStack, float | None] | None = None
    for f in fluids:
        for t in t1s:
            ov = coverage_overlap(t, f)
            c1 = classify_stack(t)
            score = (
                -FLUID_PREFERENCE.index(f.sequence),
                _anatomy_rank(f) + _anatomy_rank(t),
                t.plane is not None and t.plane == f.plane,
                round(ov, 2) if ov is not None else -1.0,
                not c1.fat_suppressed and not c1.contrast,
                t.n_images + f.n_images,
                # deterministic tie-break: lower series numbers
                -(t.series_number or 0), -(f.series_number or 0),
            )
            if best is None or score > best:
                best, chosen = score, (t, f, ov)
    assert chosen is not None
    t, f, ov = chosen
    names = {"stir": "STIR", "t2_fs": "T2 fat-suppressed", "pd_fs": "PD fat-suppressed"}
    parts = [f"{names[f.sequence]} (preference STIR > T2 FS > PD FS)"]
    if t.plane is not None and t.plane == f.plane:
        parts.append(f"same plane ({t.plane})")
    else:
        parts.append(f"planes differ (T1 {t.plane or '?'}, fluid {f.plane or '?'})")
    parts.append("coverage overlap unknown" if ov is None
                 else f"coverage overlap {100 * ov:.0f} %")
    return SeriesPair(study, t.patient_id, side, t, f, "; ".join(parts),
                      same_plane=t.plane is not None and t.plane == f.plane, overlap=ov)
