"""Render the phantom figures of the README: ``docs/phantom_t1.png`` and ``docs/phantom_stir.png``.

Each figure shows three sagittal slices (medial, through the talus, lateral) of one
phantom study (seed 2, right foot, moderate talar edema plus a small navicular one)
with the ground-truth bone outlines in their label colours, the bone names, and the
edema truth dashed. The STIR panels show the truth resampled into the STIR grid.

Run from the repository root: ``.venv/bin/python tools/render_phantom_figures.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bmes_imaging.bones import Bone  # noqa: E402 - after the sys.path line above
from bmes_imaging.geometry import resample_to  # noqa: E402
from bmes_imaging.phantom import PhantomSpec, generate_study  # noqa: E402

SHORT = {
    Bone.TALUS: "talus", Bone.CALCANEUS: "calcaneus", Bone.NAVICULAR: "navicular",
    Bone.CUBOID: "cuboid", Bone.MEDIAL_CUNEIFORM: "med. cun.",
    Bone.INTERMEDIATE_CUNEIFORM: "int. cun.", Bone.LATERAL_CUNEIFORM: "lat. cun.",
    Bone.FIRST_METATARSAL: "MT1", Bone.SECOND_METATARSAL: "MT2",
    Bone.THIRD_METATARSAL: "MT3", Bone.FOURTH_METATARSAL: "MT4",
    Bone.FIFTH_METATARSAL: "MT5", Bone.TIBIA: "tibia", Bone.FIBULA: "fibula",
}


def _slices(bones: np.ndarray) -> list[int]:
    """Medial (first cuneiform / MT1), talus centre, lateral (cuboid / MT5) slice indices."""
    def best(*labels: Bone) -> int:
        counts = sum((bones == b).sum(axis=(0, 1)) for b in labels)
        return int(np.argmax(counts))

    return [best(Bone.MEDIAL_CUNEIFORM, Bone.FIRST_METATARSAL), best(Bone.TALUS),
            best(Bone.CUBOID, Bone.FIFTH_METATARSAL)]


def _panel(ax, image, bones, edema, k, title, vmax) -> None:  # type: ignore[no-untyped-def]
    img = image[:, :, k].T
    ax.imshow(img, cmap="gray", vmin=0, vmax=vmax, interpolation="bilinear")
    lab = bones[:, :, k].T
    for b in Bone:
        m = lab == b
        if m.sum() < 40:
            continue
        color = np.array(b.color) / 255.0
        ax.contour(m.astype(float), [0.5], colors=[color], linewidths=0.9)
        jj, ii = np.nonzero(m)
        ax.text(ii.mean(), jj.mean(), SHORT[b], color="white", fontsize=8, ha="center",
                va="center", bbox={"facecolor": color * 0.6, "alpha": 0.6, "pad": 1,
                                   "edgecolor": "none"})
    ed = edema[:, :, k].T > 0
    if ed.any():
        ax.contour(ed.astype(float), [0.5], colors=["#00ffff"], linewidths=1.3,
                   linestyles="dashed")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = PhantomSpec(seed=args.seed, edema_bones=("talus", "navicular"),
                       edema_extent="mixed", patient_id="2", vessel=True)
    study = generate_study(spec)
    t1, stir = study.t1, study.stir
    bones, edema = study.bones.array, study.edema.array
    bones_s = resample_to(study.bones, stir.affine, stir.shape, order=0).array
    edema_s = resample_to(study.edema, stir.affine, stir.shape, order=0).array
    ks = _slices(bones)
    ks_s = _slices(bones_s)
    names = ("medial", "through the talus", "lateral")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frac = {r["bone"]: r["fraction"] for r in study.involvement}
    edema_note = (f"edema (dashed): talus {frac['talus']:.0%}, "
                  f"navicular {frac['navicular']:.0%} of the bone")
    for name, vol, bl, ed, kk, vmax in (
            ("t1", t1.array, bones, edema, ks, np.percentile(t1.array, 99.7)),
            ("stir", stir.array, bones_s, edema_s, ks_s, np.percentile(stir.array, 99.9))):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.9))
        for ax, k, where in zip(axes, kk, names, strict=True):
            _panel(ax, vol, bl, ed, k, f"{where} (slice {k + 1})", vmax)
        desc = study.t1.info.series_description if name == "t1" else \
            study.stir.info.series_description
        fig.suptitle(f"Phantom right foot, sagittal {name.upper()} ({desc}); anterior to "
                     f"the left. {edema_note}", fontsize=11)
        fig.tight_layout()
        path = out / f"phantom_{name}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
