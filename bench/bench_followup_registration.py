"""Follow-up registration against the phantom's truth, on a `bmes demo` output.

Usage::

    .venv/bin/bmes demo bmes-demo
    .venv/bin/python bench/bench_followup_registration.py bmes-demo

For every foot of the demo's follow-up, the registration found from the detector's bone
masks (``bmes_imaging.followup.register_follow_up``) is compared with the inverse of the
phantom's repositioning (``truth/phantom.json`` of the follow-up study) at the follow-up's
bone voxels: median and largest distance per foot.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from bmes_imaging.followup import follow_up_screened, study_dates
from bmes_imaging.geometry import apply_affine
from bmes_imaging.volume import load_nifti


def main(out: Path) -> None:
    res = follow_up_screened(out / "screen", dates=study_dates(out / "cohort"),
                             status="candidate")
    with (out / "cohort" / "followup.csv").open(newline="") as fh:
        folders = {(r["patient_id"], r["side"]): r["folder"] for r in csv.DictReader(fh)}
    rows = []
    for tl in res.with_follow_up:
        reg = res.registrations[(tl.patient, tl.side, 1)]
        if reg is None:
            print(f"foot {len(rows) + 1}: not registered")
            continue
        folder = out / "cohort" / folders[(tl.patient, tl.side)]
        meta = json.loads((folder / "truth" / "phantom.json").read_text())
        moved = np.array(meta["details"]["repositioning"])
        bones = load_nifti(folder / "truth" / "bones.nii.gz")
        pts = apply_affine(bones.affine, np.argwhere(np.asarray(bones.array) > 0)[::50])
        err = np.linalg.norm(apply_affine(reg.matrix, pts)
                             - apply_affine(np.linalg.inv(moved), pts), axis=1)
        rows.append((float(np.median(err)), float(err.max()), reg.rms_mm))
    a = np.array(rows)
    print(f"{len(a)} feet: error median {np.median(a[:, 0]):.2f} mm (worst foot "
          f"{a[:, 0].max():.2f}), largest {a[:, 1].max():.2f} mm; centroid fit rms "
          f"median {np.median(a[:, 2]):.2f} mm")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "bmes-demo"))
