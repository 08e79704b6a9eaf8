"""A small archive of DICOM studies mixed with junk, for the screening tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging import Volume
from bmes_imaging.dicom import write_series

#: Patient names written into the archive: the run log must never contain them.
NAMES = ("KOCA^AYSE", "YILMAZ^MEHMET", "DEMIR^FATMA", "CELIK^ALI", "SAHIN^ZEYNEP",
         "ARSLAN^EMRE")

_T1 = {"ScanningSequence": "SE", "SequenceVariant": "SK", "RepetitionTime": 520,
       "EchoTime": 12}
_STIR = {"ScanningSequence": ["SE", "IR"], "SequenceVariant": "SK", "RepetitionTime": 4200,
         "EchoTime": 40, "InversionTime": 160}


def write_mr_study(folder: Path, n: int, side: str, *, stir: bool = True,
                   shape: tuple[int, int, int] = (48, 40, 10)) -> None:
    """Write a T1 (and a STIR) series of one study into ``folder``."""
    rng = np.random.default_rng(n)
    affine = np.array([[0, 0, -3.0, 0], [0.8, 0, 0, -50], [0, 0.8, 0, -40], [0, 0, 0, 1]])
    common = {"patient_id": f"10{n}", "patient_name": NAMES[n % len(NAMES)],
              "study_instance_uid": f"1.2.826.0.1.3680043.8.498.7{n}"}
    write_series(Volume(rng.uniform(50, 900, shape).astype(np.float32), affine), folder,
                 series_number=1, series_description="T1 TSE SAG", uid_seed=f"t1-{n}",
                 attributes={**_T1, "Laterality": side}, shuffle_seed=n, **common)
    if stir:
        write_series(Volume(rng.uniform(10, 400, shape).astype(np.float32), affine), folder,
                     series_number=2, series_description="STIR SAG", uid_seed=f"stir-{n}",
                     attributes={**_STIR, "Laterality": side}, shuffle_seed=n,
                     filename_pattern="ST{index:05d}.dcm", **common)


@pytest.fixture
def junk_archive(tmp_path: Path) -> dict[str, object]:
    """4 good studies, one without STIR, one with a truncated file, plus junk files."""
    root = tmp_path / "archive"
    for n in range(4):
        write_mr_study(root / f"good{n}", n, "R" if n % 2 else "L")
    write_mr_study(root / "nostir", 4, "L", stir=False)
    write_mr_study(root / "truncated", 5, "R")
    victim = sorted((root / "truncated").glob("IM*.dcm"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 1500])  # pixel data cut short
    (root / "notes.txt").write_text("scanned on the old console\n")
    (root / "good0" / "DICOMDIR.bak").write_bytes(b"\x00" * 50)
    (root / "good1" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    return {"root": root, "good": [f"1.2.826.0.1.3680043.8.498.7{n}" for n in range(4)],
            "nostir": "1.2.826.0.1.3680043.8.498.74",
            "truncated": "1.2.826.0.1.3680043.8.498.75"}


@pytest.fixture(scope="session")
def phantom_archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two good phantom studies (talus R, calcaneus L), a study without STIR, a study
    with a truncated T1 file, and junk (text file, unreadable DICOM-like file)."""
    from bmes_imaging.dicom import index_folder
    from bmes_imaging.phantom import PhantomSpec, write_study

    root = tmp_path_factory.mktemp("phantom") / "archive"

    def spec(n: int, side: str, bone: str) -> PhantomSpec:
        return PhantomSpec(seed=40 + n, side=side, edema_bones=(bone,), resolution=4.0,
                           patient_id=str(n), patient_name=NAMES[n % len(NAMES)])

    good = {"1": ("R", "talus"), "2": ("L", "calcaneus")}
    for pid, (side, bone) in good.items():
        write_study(spec(int(pid), side, bone), root / f"p0{pid}_{side}")
    write_study(spec(3, "R", "navicular"), root / "p03_R")
    write_study(spec(4, "L", "cuboid"), root / "p04_L")
    uids = {}
    for folder in ("p03_R", "p04_L"):
        stacks = index_folder(root / folder / "dicom").stacks
        uids[folder] = str(stacks[0].study_instance_uid)
        if folder == "p03_R":  # no fluid series: delete the STIR files
            for s in stacks:
                if s.sequence == "stir":
                    for f in s.files:
                        Path(f).unlink()
        else:  # one T1 file cut short in its pixel data
            t1 = next(s for s in stacks if s.sequence == "t1")
            victim = Path(t1.files[len(t1.files) // 2])
            data = victim.read_bytes()
            victim.write_bytes(data[: len(data) // 2])
    (root / "README.txt").write_text("export from the old PACS\n")
    (root / "p01_R" / "dicom" / "garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xfe" * 40)
    return {"root": root, "good": good, "nostir_uid": uids["p03_R"],
            "truncated_uid": uids["p04_L"]}


@pytest.fixture(scope="session")
def phantom_local_run(phantom_archive: dict,
                      tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``bmes screen`` of the phantom archive on a local cluster of 2 workers (run once)."""
    import contextlib
    import io

    from bmes_imaging.cli import main

    out = tmp_path_factory.mktemp("local") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["screen", str(phantom_archive["root"]), "--out", str(out),
                       "--workers", "2"])
    return {"out": out, "status": status, "stdout": stdout.getvalue(),
            "stderr": stderr.getvalue()}
