"""Automatic bone masks on TUNING anatomy: per-bone Dice and CPU seconds per study.

Tuning anatomy is the VHF atlas the registration is built from, strongly deformed,
plantar flexed, resized and placed off centre, both sides, with edema; seeds from
``--seed0`` (default 7000) up, never the evaluation anatomy or seeds of
``bench/bench_bone_masks.py`` (parametric bones are for evaluation only and are not
used here). Prints per bone median and 10th percentile Dice, pooled tarsal figures and
the CPU time of :func:`bmes_imaging.detection.automatic_bones` (one thread).

Run::

    BMES_DETECTION_THREADS=1 .venv/bin/python bench/tune_bone_masks.py -n 12
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("BMES_DETECTION_THREADS", "1")

from bmes_imaging.bones import Bone
from bmes_imaging.detection import automatic_bones
from bmes_imaging.phantom import PhantomSpec, generate_study

_EDEMA_BONES = ("talus", "calcaneus", "navicular", "cuboid", "medial_cuneiform",
                "first_metatarsal", "tibia")


def tuning_spec(seed: int, resolution: float) -> PhantomSpec:
    """One tuning foot: VHF bones, size 0.8-1.25, flexion -10..40, strong deformation."""
    rng = np.random.default_rng([seed, 12012])
    k = int(rng.integers(0, 3))
    edema = tuple(str(b) for b in rng.choice(_EDEMA_BONES, size=k, replace=False))
    return PhantomSpec(
        seed=seed, side="R" if seed % 2 == 0 else "L", anatomy="vhf",
        size=float(rng.uniform(0.8, 1.25)), flexion_deg=float(rng.uniform(-10.0, 40.0)),
        deformation=float(rng.uniform(0.5, 1.5)),
        placement=tuple(float(v) for v in rng.uniform(-8.0, 8.0, 3)),
        edema_bones=edema or ("talus",), normal=not edema,
        edema_extent=str(rng.choice(["subchondral", "moderate", "diffuse"])),
        resolution=resolution)


def _dice(truth: np.ndarray, pred: np.ndarray, b: int) -> float:
    t, p = truth == b, pred == b
    return float(2 * (t & p).sum() / max(int(t.sum() + p.sum()), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=12, help="number of feet")
    ap.add_argument("--seed0", type=int, default=7000)
    ap.add_argument("--resolution", type=float, default=1.0)
    args = ap.parse_args()
    per_bone: dict[str, list[float]] = {b.bone_name: [] for b in Bone}
    cpu = []
    for seed in range(args.seed0, args.seed0 + args.n):
        spec = tuning_spec(seed, args.resolution)
        study = generate_study(spec)
        t0 = time.process_time()
        bones = automatic_bones(study.t1)
        cpu.append(time.process_time() - t0)
        truth = study.bones.array
        row = []
        for b in Bone:
            if (truth == int(b)).sum() * study.t1.voxel_volume_ml < 0.5:
                continue  # mostly outside the field of view
            d = _dice(truth, bones.array, int(b))
            per_bone[b.bone_name].append(d)
            row.append(f"{b.bone_name[:5]}={d:.2f}")
        print(f"seed {seed} {spec.side} size {spec.size:.2f} flexion {spec.flexion_deg:5.1f} "
              f"deformation {spec.deformation:.2f} match {bones.info.extra['atlas_match']:.3f} "
              f"cpu {cpu[-1]:.1f} s  " + " ".join(row), flush=True)
    print(f"\n{'bone':24s} median   p10    n")
    for b in Bone:
        v = per_bone[b.bone_name]
        if v:
            print(f"{b.bone_name:24s} {np.median(v):.3f}  {np.percentile(v, 10):.3f}  {len(v)}")
    tarsal = [d for b in Bone if b.tarsal for d in per_bone[b.bone_name]]
    print(f"tarsal pooled: median {np.median(tarsal):.3f}, p10 {np.percentile(tarsal, 10):.3f}")
    print(f"CPU per study (automatic_bones, one thread): median {np.median(cpu):.1f} s, "
          f"max {np.max(cpu):.1f} s")


if __name__ == "__main__":
    main()
