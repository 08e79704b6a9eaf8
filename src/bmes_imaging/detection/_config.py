"""Every threshold of the edema detector, with its documented default.

A reader or a site can change any of them (``DetectionConfig(fluid_ratio_min=1.6)``);
the defaults were chosen on the phantom cohort (``bench/bench_detection.py``) and on
what the foot BME literature describes (marrow darker than normal fatty marrow on T1
and brighter on the fluid-sensitive image).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DetectionConfig"]


@dataclass(frozen=True)
class DetectionConfig:
    """Thresholds and sizes of the edema detector (all lengths in mm, volumes in ml).

    Attributes
    ----------
    t1_ratio_max
        A voxel may *start* an edema region only where T1 / normal-marrow reference is
        below this (edematous marrow loses its fat signal). Default 0.80.
    fluid_ratio_min
        ... and fluid / normal-marrow reference is above this (STIR, T2-FS or PD-FS
        bright). Default 4.0: fat-suppressed normal marrow is dark, so edema is many
        times brighter, while red marrow stays below about 3.5.
    edge_level
        A region's edge lies where the fluid ratio is this fraction of the way from
        normal marrow (1.0) to the region's core (its 90th percentile): 0.5 is the
        half-maximum of the lesion; 0.4 matched the soft edges of the phantom best (partial
        volume through 3 mm slices lowers the edge signal). Default 0.4.
    edge_fluid_min
        The edge never goes below this fluid ratio. Default 2.0.
    edge_t1_max
        Voxels joining a region must have T1 / reference below this. Default 0.95.
    score_min
        The two ratios are also combined into one score,
        ``(1 - t1_ratio) / (1 - t1_ratio_max) + (fluid_ratio - 1) / (fluid_ratio_min - 1)``;
        a voxel needs both conditions above and ``score >= score_min``. Default 2.0
        (equal to both thresholds just being met).
    smoothing_mm
        Gaussian smoothing (sigma) of both images before the ratios, against noise.
        Default 0.8 mm.
    rim_mm
        Outer shell of every bone not used to *start* a finding (partial volume with
        cortex, cartilage and joint fluid); regions found deeper are grown back into
        it. Default 1.2 mm.
    min_region_ml
        Connected candidate regions smaller than this are dropped. Default 0.03 ml
        (30 mm³).
    min_depth_mm
        A region must reach at least this far inside its bone (distance to the bone
        surface), so that joint fluid hugging a bone is never reported. Default 2.0 mm.
    reference_sigma_mm
        Width (sigma) of the local normal-marrow reference that absorbs coil bias.
        Default 25 mm.
    reference_t1_min, reference_fluid_max
        Voxels count as normal marrow for the reference when T1 >= ``reference_t1_min``
        x and fluid <= ``reference_fluid_max`` x the whole-foot marrow mode.
        Defaults 0.85 and 1.4.
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

    t1_ratio_max: float = 0.80
    fluid_ratio_min: float = 4.0
    edge_level: float = 0.4
    edge_fluid_min: float = 2.0
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
