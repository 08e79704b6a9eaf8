"""``bmes phantom``: write a synthetic foot MRI study (or a cohort) with ground truth.

Examples::

    bmes phantom out/study --seed 2 --edema talus --extent diffuse --effusion
    bmes phantom out/normal --seed 5 --normal --side L
    bmes phantom --cohort table1 out/cohort --workers 2
    bmes phantom --cohort table1 --foot p02_R --resolution 2 sample_data/study_p02_R
    bmes phantom --cohort eval --n 40 out/eval --workers 2
    bmes phantom out/faint --seed 3 --edema talus --fluid-ratio 2 --t1-ratio 0.8 --plane axial
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import PhantomError


def register(subparsers: Any) -> None:
    """Add the ``phantom`` subcommand."""
    p = subparsers.add_parser(
        "phantom", help="write a synthetic foot MRI study (T1 + STIR DICOM) with ground truth",
        description="Write a phantom study: OUT/dicom/ (sagittal T1 and STIR, shuffled "
                    "file names) and OUT/truth/ (bones.nii.gz, edema.nii.gz, "
                    "involvement.csv, phantom.json). With --cohort, one study per foot of "
                    "the seed study's Table 1 (p01_L, p02_R, ...) plus normal controls, or the "
                    "detector's tuning / evaluation cohort drawn from the phantom "
                    "distribution (tune000, eval000_<corner case>, final000_..., ...).")
    p.add_argument("out", metavar="OUT", help="study folder (or cohort folder with --cohort)")
    p.add_argument("--cohort", choices=["table1", "tune", "eval", "final", "holdout", "sealed",
                                          "vault", "crypt", "reserve", "ledger"],
                   help="write a whole cohort instead")
    p.add_argument("--n", type=int, metavar="N",
                   help="studies of a tune / eval / final / holdout / sealed / vault / crypt / "
                        "reserve / ledger cohort (default 60 / 40 / 40 / 48 / 64 / 64 / 64 / "
                        "80 / 80)")
    p.add_argument("--foot", metavar="NAME",
                   help="with --cohort: write only this foot (e.g. p02_R) into OUT")
    p.add_argument("--controls", type=int, default=1,
                   help="normal control feet added to a cohort (default 1)")
    p.add_argument("--workers", type=int, default=1, help="processes for a cohort")
    p.add_argument("--overwrite", action="store_true",
                   help="regenerate cohort studies already present with the same spec")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--side", choices=["L", "R"], default="R")
    grp = p.add_mutually_exclusive_group()
    grp.add_argument("--edema", default="talus", metavar="BONES",
                     help="comma-separated bones with edema (default talus)")
    grp.add_argument("--normal", action="store_true", help="no edema")
    p.add_argument("--extent", default="moderate",
                   choices=["subchondral", "moderate", "diffuse", "mixed"])
    p.add_argument("--effusion", action="store_true", help="joint effusion")
    p.add_argument("--vessel", action="store_true", help="bright vessel beside the bones")
    p.add_argument("--red-marrow", action="store_true", help="red marrow islands (calcaneus)")
    p.add_argument("--bias", type=float, default=0.3, help="bias field strength 0..1")
    p.add_argument("--snr", type=float, default=25.0, help="SNR of muscle; 0 = no noise")
    p.add_argument("--motion-mm", type=float, default=0.0, help="STIR translation (mm)")
    p.add_argument("--motion-deg", type=float, default=0.0, help="STIR rotation (degrees)")
    p.add_argument("--patient-id", help="PatientID (default PH<seed>)")
    p.add_argument("--sex", choices=["M", "F"], help="PatientSex")
    p.add_argument("--age", type=int, help="PatientAge in years")
    p.add_argument("--fluid", choices=["stir", "t2_fs", "pd_fs"], default="stir",
                   help="fluid-sensitive series: STIR (default), T2 or PD fat-suppressed")
    p.add_argument("--axial", action="store_true",
                   help="also write an axial fluid-sensitive series")
    p.add_argument("--vendor", choices=["SIEMENS", "GE MEDICAL SYSTEMS",
                                        "Philips Medical Systems"],
                   help="header style (default: drawn from the seed)")
    p.add_argument("--resolution", type=float, default=1.0,
                   help="pixel size factor (2 = half matrix; for quick tests)")
    p.add_argument("--fluid-ratio", type=float, metavar="R",
                   help="mean edema / normal marrow signal on the fluid image (e.g. 1.8-8)")
    p.add_argument("--t1-ratio", type=float, metavar="R",
                   help="mean edema / normal marrow signal on T1 (e.g. 0.35-0.85)")
    p.add_argument("--fat-suppression", type=float, metavar="F",
                   help="residual fat fraction on the fluid image (0 perfect, 0.4 poor)")
    p.add_argument("--field", type=float, choices=[1.5, 3.0], default=1.5,
                   help="field strength in tesla (default 1.5)")
    p.add_argument("--plane", choices=["sagittal", "axial", "coronal"], default="sagittal",
                   help="plane of the fluid-sensitive series (default sagittal)")
    p.add_argument("--slice-mm", type=float, help="slice thickness of both series (mm)")
    p.add_argument("--pixel-mm", type=float, help="in-plane pixel of both series (mm)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the study or cohort; print where and how long it took."""
    from ..phantom import PhantomSpec, write_cohort, write_study

    t0 = time.perf_counter()
    if args.foot and not args.cohort:
        raise PhantomError("--foot needs --cohort (e.g. --cohort table1 --foot p02_R)")
    if args.cohort and args.foot:
        from ..phantom import cohort_specs

        feet = dict(cohort_specs(args.cohort, controls=args.controls,
                                 resolution=args.resolution, n=args.n))
        if args.foot not in feet:
            raise PhantomError(f"cohort {args.cohort} has no foot {args.foot!r}; it has "
                               f"{', '.join(feet)}")
        out = write_study(feet[args.foot], args.out)
        print(f"wrote {args.cohort} foot {args.foot} to {out} in "
              f"{time.perf_counter() - t0:.1f} s")
        return 0
    if args.cohort:
        def progress(name: str, frac: float) -> None:
            print(f"  {name}  ({frac:.0%})", flush=True)

        folders = write_cohort(args.cohort, args.out, controls=args.controls,
                               resolution=args.resolution, workers=max(args.workers, 1),
                               overwrite=args.overwrite, progress=progress, n=args.n)
        print(f"wrote {len(folders)} studies to {args.out} in "
              f"{time.perf_counter() - t0:.1f} s")
        return 0
    bones = tuple(b.strip() for b in args.edema.split(",") if b.strip())
    if not args.normal and not bones:
        raise PhantomError("--edema needs at least one bone name (or use --normal)")
    spec = PhantomSpec(
        seed=args.seed, side=args.side, edema_bones=bones or ("talus",),
        edema_extent=args.extent, normal=args.normal, effusion=args.effusion,
        vessel=args.vessel, red_marrow=args.red_marrow, bias=args.bias,
        snr=args.snr if args.snr > 0 else None, motion_mm=args.motion_mm,
        motion_deg=args.motion_deg, patient_id=args.patient_id, patient_sex=args.sex,
        patient_age=args.age, resolution=args.resolution, axial=args.axial, fluid=args.fluid,
        vendor=args.vendor, edema_fluid_ratio=args.fluid_ratio, edema_t1_ratio=args.t1_ratio,
        fat_suppression=args.fat_suppression, field_strength=args.field,
        fluid_plane=args.plane, slice_mm=args.slice_mm, pixel_mm=args.pixel_mm)
    out = write_study(spec, args.out)
    print(f"wrote phantom study to {out} in {time.perf_counter() - t0:.1f} s")
    return 0
