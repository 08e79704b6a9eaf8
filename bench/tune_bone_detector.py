"""Bone-mask variants judged on BOTH mask Dice and the detector, on read detection splits.

Sixth pass of the automatic bone masks (issue 12, docs/detection.md "Automatic bone
masks"). The step after registration (:func:`bmes_imaging.detection._boundary.image_decides`)
is what the variants change; the registration is run once per study and its labels
before that step are cached (``--cache``, one ``.npz`` per study). For every variant and
study, the variant's image step is applied to those labels, the per-bone mask quality
computed as :func:`~bmes_imaging.detection._atlas.automatic_bones` does, and the study
is run through ``detect_study`` (DICOM in, results out, as ``bmes detect``) with those
automatic masks. Printed per variant: Dice of the masks against the true bones per bone
and per anatomy family (VHF / parametric), and the detector's bone-level sensitivity and
specificity with the false and missed bones, per family, plus the image step's CPU time.

ONLY the read splits ``sealed``, ``vault`` and (from the eighth pass on) ``crypt`` (cached
by ``bench/bench_detection.py`` in ``~/.cache/bmes-imaging/phantom-<split>``) are tuning
material here: the eighth split (``reserve``) is evaluation only and is refused.

The cache holds the registered labels before the image step, keyed by the study name and
by :data:`REGISTRATION_KEY` (empty for the default registration): a variant that changes
the registration must set its own key, so it never reads another variant's labels.

Run::

    BMES_DETECTION_THREADS=1 .venv/bin/python bench/tune_bone_detector.py \
        --split vault --split sealed --studies 0:32 --variant fourth --variant eighth
"""

from __future__ import annotations

import os

os.environ.setdefault("BMES_DETECTION_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_detection as bd

from bmes_imaging.bones import Bone
from bmes_imaging.detection import _atlas, _boundary, _detect
from bmes_imaging.errors import BmesError
from bmes_imaging.phantom import default_cache_dir
from bmes_imaging.volume import Volume

_READ_SPLITS = ("sealed", "vault", "crypt")
#: Suffix of the cached registration files; a variant changing the registration sets it.
REGISTRATION_KEY = ""


def _settings(**kw: Any) -> Callable[[], None]:
    """A variant: module attributes ``"module:NAME": value`` set before its run."""
    import importlib

    def apply() -> None:
        for key, value in kw.items():
            mod, name = key.split(":")
            m = importlib.import_module(f"bmes_imaging.detection.{mod}")
            assert hasattr(m, name), key
            setattr(m, name, value)
    return apply


_TARSALS = {int(b) for b in Bone if b.tarsal}
#: Variants of the image step (settings of the bone-mask modules); "fourth" is the
#: default code of the fourth to seventh pass, "eighth" the eighth pass' default (the
#: bones resized first, :mod:`._bone_resize`).
VARIANTS: dict[str, dict[str, Any]] = {
    "fourth": {"_boundary:_ALL_BONES_COMPETE": False, "_boundary:_RESIZE": False},
    "eighth": {"_boundary:_RESIZE": True},
    "compete": {"_boundary:_ALL_BONES_COMPETE": True},
    "compete-bright70": {"_boundary:_ALL_BONES_COMPETE": True,
                         "_bone_regions:ADD_MIN_T1": 0.7},
    "compete-bright85": {"_boundary:_ALL_BONES_COMPETE": True,
                         "_bone_regions:ADD_MIN_T1": 0.85},
    "compete-shrink": {"_boundary:_ALL_BONES_COMPETE": True,
                       "_bone_regions:ADD_MIN_T1": float("inf")},
    "compete-tarsals": {"_boundary:_ALL_BONES_COMPETE": True,
                        "_boundary:_COMPETE_BONES": _TARSALS},
    "compete-tarsals-bright70": {"_boundary:_ALL_BONES_COMPETE": True,
                                 "_boundary:_COMPETE_BONES": _TARSALS,
                                 "_bone_regions:ADD_MIN_T1": 0.7},
    "trim": {"_boundary:_TRIM_SOFT": True},
    "trim-fit50": {"_boundary:_TRIM_SOFT": True, "_boundary:_TRIM_BELOW": 0.5},
    "trim-fit35": {"_boundary:_TRIM_SOFT": True, "_boundary:_TRIM_BELOW": 0.35},
    "trim-far3": {"_boundary:_TRIM_SOFT": True, "_bone_trim:FAR_MM": 3.0},
    "trim-far3-fit50": {"_boundary:_TRIM_SOFT": True, "_bone_trim:FAR_MM": 3.0,
                        "_boundary:_TRIM_BELOW": 0.5},
    "trim-narrow": {"_boundary:_TRIM_SOFT": True, "_bone_trim:LOW": 0.25,
                    "_bone_trim:HIGH": 0.6},
    "resize": {"_boundary:_RESIZE": True, "_bone_resize:MIN_BASE": -0.045},
    "resize-gain10": {"_boundary:_RESIZE": True, "_bone_resize:MIN_GAIN": 0.10},
    "resize-ring1": {"_boundary:_RESIZE": True, "_bone_resize:RING_OUT_MM": 1.0,
                     "_bone_resize:MIN_BASE": -0.045},
    "resize-base0": {"_boundary:_RESIZE": True, "_bone_resize:MIN_BASE": 0.0},
    "resize-nostart": {"_boundary:_RESIZE": True, "_bone_resize:WIDTH_STARTS": (1.0,)},
    "compete-shrink-trim": {"_boundary:_ALL_BONES_COMPETE": True,
                            "_bone_regions:ADD_MIN_T1": float("inf"),
                            "_boundary:_TRIM_SOFT": True},
}


def _defaults() -> dict[str, Any]:
    """The current values of every setting any variant touches (restored per variant)."""
    import importlib

    out = {}
    for v in VARIANTS.values():
        for key in v:
            mod, name = key.split(":")
            out[key] = getattr(importlib.import_module(f"bmes_imaging.detection.{mod}"), name)
    return out


class _Masks:
    """Automatic masks of the current study: registration cached, image step per variant."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.name = ""
        self.cpu: list[float] = []
        self.real_image_decides = _boundary.image_decides

    def _path(self) -> Path:
        return self.cache / f"{self.name}{REGISTRATION_KEY}.npz"

    def __call__(self, t1: Volume, cfg: Any) -> tuple[Volume, float]:
        """Stands in for ``_detect._timed_automatic_bones``."""
        path = self._path()
        if not path.exists():  # register once; keep the labels before the image step
            seen: dict[str, Any] = {}

            def capture(t1_: Volume, labels: np.ndarray) -> Any:
                seen["labels"] = labels.copy()
                return labels, {}

            _atlas.image_decides = capture
            try:
                reg = _atlas.automatic_bones(t1, cfg)
            finally:
                _atlas.image_decides = self.real_image_decides
            np.savez_compressed(path, labels=seen["labels"],
                                match=reg.info.extra["atlas_match"])
        data = np.load(path)
        t0 = time.process_time()
        labels, fit = _boundary.image_decides(t1, data["labels"])
        quality = _atlas.bone_mask_quality(t1, labels, None, fit=fit)
        self.cpu.append(time.process_time() - t0)
        info = t1.info.replace(sequence="other", extra={
            **t1.info.extra, "atlas_match": float(data["match"]), "atlases_fused": 1,
            "bone_mask_quality": quality})
        return Volume(labels, t1.affine, info), 0.0


def _run_variant(studies: list[bd.Study], masks: _Masks, out: Path) -> None:
    for st in studies:
        masks.name = st.name
        pred = out / st.name
        try:
            det = bd.detect_study(st.folder / "dicom", pred)
        except BmesError as exc:
            st.errors["auto"] = str(exc).splitlines()[0][:160]
            st.scores["auto"] = None
            print(f"  {st.name}: ERROR {type(exc).__name__}", flush=True)
            continue
        st.pred_ml["auto"] = {int(r["bone_label"]): float(r["edema_volume_ml"])
                              for r in det.rows}
        s = bd._score(st, pred, True)
        st.scores["auto"] = s
        print(f"  {st.name:<40} {st.spec.anatomy:<10} FP {[b.bone_name for b in s.fp]} "
              f"FN {[b.bone_name for b in s.fn]} tarsal Dice "
              f"{np.median([d for b, d in s.bone_dice.items() if b.tarsal] or [0]):.3f}",
              flush=True)


def _q(v: list[float]) -> str:
    return f"{np.median(v):.3f} / {np.percentile(v, 10):.3f}" if v else "-"


def _summary(name: str, studies: list[bd.Study], cpu: list[float]) -> None:
    rows = bd.bone_rows(studies, ["auto"])
    print(f"\n== {name}: {len(studies)} studies")
    for fam in ("all", "vhf", "parametric"):
        sel = [r for r in rows if fam == "all" or r["anatomy"] == fam]
        pos = [r for r in sel if r["truth"]]
        neg = [r for r in sel if not r["truth"]]
        tp = sum(r["auto_positive"] for r in pos)
        fp = sum(r["auto_positive"] for r in neg)
        sc = [st for st in studies if fam == "all" or st.spec.anatomy == fam]
        dice: dict[str, list[float]] = {}
        for st in sc:
            s = st.scores.get("auto")
            for b, d in (s.bone_dice.items() if s else []):
                dice.setdefault(b.bone_name, []).append(d)
        tars = [d for b in Bone if b.tarsal for d in dice.get(b.bone_name, [])]
        mets = " ".join(f"{np.median(dice.get(b.bone_name, [np.nan])):.3f}" for b in Bone
                        if "metatarsal" in b.bone_name)
        tf = " ".join(f"{np.median(dice.get(n, [np.nan])):.3f}" for n in ("tibia", "fibula"))
        print(f"{fam:<11} sens {tp / max(len(pos), 1):.3f} ({tp}/{len(pos)})  spec "
              f"{1 - fp / max(len(neg), 1):.3f} (false {fp}/{len(neg)})  tarsal Dice "
              f"{_q(tars)}  metatarsals {mets}  tibia/fibula {tf}")
    falses: dict[str, int] = {}
    for r in rows:
        if not r["truth"] and r["auto_positive"]:
            falses[r["study"][:9]] = falses.get(r["study"][:9], 0) + 1
    missed = [f"{r['study'][:9]}:{r['bone']}" for r in rows if r["truth"]
              and not r["auto_positive"]]
    print(f"false bones per study: {' '.join(f'{k}:{v}' for k, v in falses.items())}"
          f"\nmissed: {' '.join(missed)}")
    if cpu:
        print(f"image step CPU: median {np.median(cpu):.2f} s, max {np.max(cpu):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=_READ_SPLITS, action="append", required=True,
                    help="read detection split(s) (repeatable)")
    ap.add_argument("--studies", default="0:64", help="slice of each split's 64 studies")
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                    help="variants to run (repeatable; default fourth)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tune-bones-detector"),
                    help="registered labels before the image step, one file per study")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.studies.split(":"))
    studies: list[bd.Study] = []
    for split in args.split:
        studies += bd.generate(split, 64, default_cache_dir(split), 1.0)[lo:hi]
    args.cache.mkdir(parents=True, exist_ok=True)
    masks = _Masks(args.cache)
    _detect._timed_automatic_bones = masks
    base = _defaults()
    for name in args.variant or ["fourth"]:
        for key, value in base.items():
            _settings(**{key: value})()
        _settings(**VARIANTS[name])()
        masks.cpu = []
        for st in studies:
            st.scores, st.pred_ml, st.errors = {}, {}, {}
        print(f"\n-- variant {name}", flush=True)
        with tempfile.TemporaryDirectory(prefix="tune-bone-det-") as tmp:
            _run_variant(studies, masks, Path(tmp))
        _summary(name, studies, masks.cpu)


if __name__ == "__main__":
    main()
