"""``detect_edema``: alignment, bone masks, signal comparison and findings in one call."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..bones import Bone
from ..errors import DetectionError
from ..volume import Volume
from ._align import Alignment, align_fluid
from ._bone_masks import bones_from_labels, bones_from_seeds
from ._compare import compute_ratios, flag_edema
from ._config import DetectionConfig
from ._findings import BoneFinding, apply_bone_mask_quality, findings_from_ratios

__all__ = ["EdemaResult", "detect_edema"]

Progress = Callable[[str, float], None]


@dataclass
class EdemaResult:
    """What the detector found in one study (one foot).

    Attributes
    ----------
    findings
        One :class:`BoneFinding` per bone present in the bone masks.
    bones
        uint8 bone label map on the T1 grid.
    edema
        uint8 edema map on the T1 grid; edema voxels carry their bone's label.
    fluid_aligned
        The fluid series resampled into the T1 grid (0 outside its field of view).
    transform
        4x4 world rigid refinement applied to the fluid series (``M @ fluid.affine``).
    coverage_notes
        What only one series covers, bones partly outside the fluid series, alignment
        remarks.
    timings
        Seconds per stage (``align``, ``bones``, ``compare``, ``findings``). Automatic
        bones are registered beside the alignment when the config allows two threads,
        so ``align`` and ``bones`` then overlap.
    bone_source
        ``"imported"``, ``"seeded"`` or ``"automatic"``.
    t1_reference, fluid_reference
        Whole-foot normal-marrow intensity (median of the final reference voxels, in
        image units).
    t1_spread, fluid_spread
        Robust standard deviation of normal marrow's ``ratio - 1`` on each image: the
        unit of the study-adaptive decision (``docs/detection.md``, "Decision rule").
    """

    findings: list[BoneFinding]
    bones: Volume
    edema: Volume
    fluid_aligned: Volume
    transform: NDArray[np.float64]
    coverage_notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    bone_source: str = "imported"
    t1_reference: float = float("nan")
    fluid_reference: float = float("nan")
    t1_spread: float = float("nan")
    fluid_spread: float = float("nan")

    def finding(self, bone: Bone) -> BoneFinding | None:
        """The finding of ``bone``, or None if that bone is not in the masks."""
        for f in self.findings:
            if f.bone == bone:
                return f
        return None

    @property
    def positive_bones(self) -> list[Bone]:
        """Bones with edema (grade >= 1), in label order."""
        return [f.bone for f in self.findings if f.positive]


def _check_input(t1: Volume, fluid: Volume) -> None:
    for name, vol in (("t1", t1), ("fluid", fluid)):
        if not isinstance(vol, Volume):
            raise DetectionError(f"{name} must be a Volume, found {type(vol).__name__}")
        if min(vol.shape) < 1 or vol.array.size < 8:
            raise DetectionError(f"{name} image is empty (shape {vol.shape})")
        if not np.issubdtype(vol.array.dtype, np.number):
            raise DetectionError(f"{name} image is not numeric ({vol.array.dtype})")
    if t1.info.sequence and t1.info.sequence not in ("t1", "other"):
        raise DetectionError(f"the first image is a {t1.info.sequence} series; detect_edema "
                             "needs the T1 series first and the fluid series second")


def _timed_automatic_bones(t1: Volume, cfg: DetectionConfig) -> tuple[Volume, float]:
    from ._atlas import automatic_bones

    t0 = time.perf_counter()
    return automatic_bones(t1, cfg), time.perf_counter() - t0


def _automatic_on_grid(bones: Volume, t1: Volume) -> bool:
    """``bones`` are automatic masks (:func:`~._atlas.automatic_bones`: they carry a
    per-bone ``bone_mask_quality``) on the T1's grid, to be used as they are."""
    return ("bone_mask_quality" in bones.info.extra and bones.shape == t1.shape
            and bool(np.allclose(bones.affine, t1.affine, atol=1e-4)))


def _align_and_bones(
    t1: Volume,
    fluid: Volume,
    bones: Volume | Future[Volume] | None,
    seeds: Mapping[Bone | int | str, Sequence[ArrayLike]] | None,
    cfg: DetectionConfig,
    refine_alignment: bool,
    report: Progress,
    timings: dict[str, float],
) -> tuple[Alignment, Volume, str]:
    """The fluid series aligned to T1, and the bone masks with their source.

    Automatic bones need only T1: with two threads allowed, the atlas is registered
    beside the alignment. ``timings`` gets ``align`` and ``bones``.
    """
    report("align", 0.0)
    t0 = time.perf_counter()
    pending: Future[tuple[Volume, float]] | None = None
    if bones is None and not seeds and cfg.thread_count() > 1:
        # automatic bones need only T1: register the atlas while aligning the fluid series
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bmes-bones")
        pending = pool.submit(_timed_automatic_bones, t1, cfg)
        pool.shutdown(wait=False)
    try:
        al = align_fluid(t1, fluid, refine=refine_alignment, config=cfg)
        timings["align"] = time.perf_counter() - t0
        report("bones", 0.3)
    except BaseException:  # an error, or a cancel from the progress callback
        if pending is not None:
            wait([pending])  # no registration outlives the call
        raise
    t0 = time.perf_counter()
    if isinstance(bones, Future):
        bones = bones.result()  # computed elsewhere, beside the alignment
        if _automatic_on_grid(bones, t1):  # automatic masks: kept with their quality
            timings["bones"] = time.perf_counter() - t0
            return al, bones, "automatic"
    if pending is not None:
        bone_vol, timings["bones"] = pending.result()  # ran beside the alignment
        return al, bone_vol, "automatic"
    if bones is not None:
        bone_vol, source = bones_from_labels(bones, t1), "imported"
    elif seeds:
        bone_vol, source = bones_from_seeds(t1, seeds, cfg), "seeded"
    else:
        bone_vol, _ = _timed_automatic_bones(t1, cfg)
        source = "automatic"
    timings["bones"] = time.perf_counter() - t0
    return al, bone_vol, source


def detect_edema(
    t1: Volume,
    fluid: Volume,
    *,
    bones: Volume | Future[Volume] | None = None,
    seeds: Mapping[Bone | int | str, Sequence[ArrayLike]] | None = None,
    config: DetectionConfig | None = None,
    refine_alignment: bool = True,
    progress: Progress | None = None,
) -> EdemaResult:
    """Find bone marrow edema per bone: T1 darker and fluid brighter than normal marrow.

    Parameters
    ----------
    t1
        The T1-weighted series (its grid is the grid of every output).
    fluid
        The fluid-sensitive series (STIR, T2 or PD fat-suppressed), any grid.
    bones
        Bone label map in the project convention, in any grid (resampled by nearest
        neighbour), or a ``concurrent.futures.Future`` that gives one (masks being
        computed elsewhere, awaited after the alignment; automatic masks on the T1's grid
        that a Future gives are kept as they are, with their ``bone_mask_quality``, and
        the result's ``bone_source`` is ``"automatic"``). ``None`` with ``seeds=None``:
        automatic bone masks (atlas).
    seeds
        RAS+ mm points per bone, grown into bone masks on T1 (used when ``bones`` is
        None).
    config
        Thresholds (:class:`DetectionConfig`); defaults documented there.
    refine_alignment
        Correct rigid motion of the fluid series against T1 (mutual information).
    progress
        Called as ``progress(stage, fraction_done)``.

    Returns
    -------
    EdemaResult

    Raises
    ------
    DetectionError
        Unusable input (no bone in the field of view, wrong series order...).
    AlignmentError
        The two series do not overlap.

    Examples
    --------
    >>> from bmes_imaging.phantom import PhantomSpec, generate_study  # doctest: +SKIP
    >>> study = generate_study(PhantomSpec(seed=1, edema_bones=("talus",)))  # doctest: +SKIP
    >>> result = detect_edema(study.t1, study.stir, bones=study.bones)  # doctest: +SKIP
    >>> result.positive_bones  # doctest: +SKIP
    [<Bone.TALUS: 1>]
    """
    cfg = config or DetectionConfig()
    _check_input(t1, fluid)
    report = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    al, bone_vol, source = _align_and_bones(t1, fluid, bones, seeds, cfg,
                                            refine_alignment, report, timings)

    report("compare", 0.6)
    t0 = time.perf_counter()
    fl = np.asarray(al.fluid_aligned.array, dtype=np.float32)
    ratios = compute_ratios(t1.array, fl, bone_vol.array, al.covered, t1.voxel_sizes, cfg)
    edema = flag_edema(ratios, t1.voxel_sizes, cfg, t1.shape)
    timings["compare"] = time.perf_counter() - t0

    report("findings", 0.9)
    t0 = time.perf_counter()
    findings, notes = findings_from_ratios(ratios, edema, t1.voxel_volume_ml, cfg)
    findings = apply_bone_mask_quality(findings, bone_vol)  # automatic: confidence <= quality
    timings["findings"] = time.perf_counter() - t0
    report("done", 1.0)
    info = t1.info.replace(sequence="other")
    return EdemaResult(
        findings=findings,
        bones=bone_vol,
        edema=Volume(edema, t1.affine, info),
        fluid_aligned=al.fluid_aligned,
        transform=al.transform,
        coverage_notes=al.notes + notes,
        timings=timings,
        bone_source=source,
        t1_reference=ratios.t1_reference,
        fluid_reference=ratios.fluid_reference,
        t1_spread=ratios.t1_spread,
        fluid_spread=ratios.fluid_spread,
    )
