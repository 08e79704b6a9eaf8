"""Benchmark: folder index speed against named references, measured in the same run.

Builds a 3,000-file tree (100 series x 30 slices of 64x64, mixed vendors / sequences,
shuffled names, Siemens-like private CSA blocks so headers are realistically long),
then measures files per second (median of several runs, warm page cache) for:

* ``index_folder`` (bmes-imaging; target >= 10,000 files/s),
* a pydicom ``dcmread(stop_before_pixels=True)`` loop,
* ``dcm2niix -n -1`` (its listing mode: series CRCs, no conversion),
* GDCM's ``gdcm.Scanner`` reading the same tags (python-gdcm),
* ``open().read(4096)`` of every file (the I/O floor),

and prints the table and the ratios of ``index_folder`` to each reference.

Usage: ``.venv/bin/python bench/bench_index.py [--files 3000] [--repeat 5] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from bmes_imaging.dicom import index_folder
from bmes_imaging.dicom._header import WANTED

SERIES_STYLES = [
    ("SIEMENS", "t1_tse_sag", "SE", "", 600, 12, None),
    ("SIEMENS", "t2_tirm_sag", "SE\\IR", "", 4000, 40, 150),
    ("GE MEDICAL SYSTEMS", "Sag T1 FSE", "SE", "FAST_GEMS", 550, 10, None),
    ("GE MEDICAL SYSTEMS", "T2 FRFSE FS", "SE", "FS\\FAST_GEMS", 4200, 85, None),
    ("Philips", "PDW_SPAIR", "SE", "FS", 3000, 30, None),
    ("TOSHIBA", "STIR", "IR", "", 5000, 35, 160),
]


def build_tree(root: Path, n_files: int, per_series: int = 30, size: int = 64) -> None:
    """Write ``n_files`` single-frame MR files under ``root`` (nested, shuffled names)."""
    rng = random.Random(1)
    nprng = np.random.default_rng(1)
    pixels = nprng.integers(0, 4000, (size, size), dtype=np.uint16).tobytes()
    csa = bytes(nprng.integers(0, 255, 9000, dtype=np.uint8))
    n_series = max(1, n_files // per_series)
    written = 0
    for s in range(n_series):
        maker, desc, seq, opts, tr, te, ti = SERIES_STYLES[s % len(SERIES_STYLES)]
        study = pydicom.uid.generate_uid(entropy_srcs=[f"study{s // 6}"])
        series = pydicom.uid.generate_uid(entropy_srcs=[f"series{s}"])
        folder = root / f"PAT{s // 6:03d}" / f"SER{s:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_series):
            if written >= n_files:
                return
            sop = pydicom.uid.generate_uid(entropy_srcs=[f"sop{s}.{k}"])
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SpecificCharacterSet = "ISO_IR 100"
            ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20150601"
            ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = "090000"
            ds.AccessionNumber = f"A{s // 6:05d}"
            ds.Modality, ds.Manufacturer = "MR", maker
            ds.InstitutionName = "Bench Hospital"
            ds.ReferringPhysicianName = "Ref^Doc"
            ds.StudyDescription = "MR ANKLE"
            ds.SeriesDescription = desc
            ds.ManufacturerModelName = "Model"
            ds.PatientName = f"Bench^{s // 6}"
            ds.PatientID = f"{s // 6}"
            ds.PatientBirthDate = "19800101"
            ds.PatientSex = "F"
            ds.PatientAge = "035Y"
            ds.PatientWeight = 70
            ds.BodyPartExamined = "ANKLE"
            ds.ScanningSequence = seq
            ds.SequenceVariant = "SK\\SP"
            ds.ScanOptions = opts
            ds.MRAcquisitionType = "2D"
            ds.SequenceName = "*tse2d1_3"
            ds.SliceThickness = 3
            ds.RepetitionTime, ds.EchoTime = tr, te
            if ti:
                ds.InversionTime = ti
            ds.NumberOfAverages = 1
            ds.ImagingFrequency = 63.6
            ds.MagneticFieldStrength = 1.5
            ds.SpacingBetweenSlices = 3.3
            ds.EchoTrainLength = 3
            ds.ProtocolName = desc
            ds.FlipAngle = 150
            ds.PatientPosition = "FFS"
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.StudyID = "1"
            ds.SeriesNumber, ds.InstanceNumber = s + 1, k + 1
            ds.ImagePositionPatient = [-40.0 + 3.3 * k, -60.0, 40.0]
            ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
            ds.FrameOfReferenceUID = pydicom.uid.generate_uid(entropy_srcs=[f"for{s // 6}"])
            ds.SliceLocation = -40.0 + 3.3 * k
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows = ds.Columns = size
            ds.PixelSpacing = [0.5, 0.5]
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            ds.PixelRepresentation = 0
            ds.WindowCenter, ds.WindowWidth = 600, 1200
            if maker == "SIEMENS":
                ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
                ds.add_new(0x00291010, "OB", csa)
                ds.add_new(0x00291020, "OB", csa)
            ds.PixelData = pixels
            name = f"{rng.getrandbits(40):010x}"  # no extension, shuffled
            ds.save_as(folder / name, enforce_file_format=True)
            written += 1


def _cpu() -> float:
    """CPU seconds of this process and its finished children (dcm2niix)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of ``repeat`` warm runs."""
    fn()  # warm the page cache and imports
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="build the tree in DIR and keep it")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_index_"))
    root = tmp / "tree"
    try:
        if not root.is_dir():
            t0 = time.perf_counter()
            build_tree(root, args.files)
            print(f"built {args.files} files in {time.perf_counter() - t0:.1f} s under {root}")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        n = len(files)
        results: dict[str, tuple[float, float]] = {}

        def run_index() -> None:
            idx = index_folder(root)
            assert idx.n_files == n and not idx.rejected, "index lost files"

        results["bmes index_folder"] = timeit(run_index, args.repeat)

        def run_pydicom() -> None:
            for f in files:
                pydicom.dcmread(f, stop_before_pixels=True)

        results["pydicom stop_before_pixels"] = timeit(run_pydicom, max(1, args.repeat // 2))

        if shutil.which("dcm2niix"):
            out = tmp / "dcm2niix_out"
            out.mkdir(exist_ok=True)

            def run_dcm2niix() -> None:
                subprocess.run(["dcm2niix", "-n", "-1", "-o", str(out), str(root)],
                               check=True, capture_output=True)

            results["dcm2niix -n -1 (listing)"] = timeit(run_dcm2niix, args.repeat)
        try:
            import gdcm

            tags = [gdcm.Tag(t >> 16, t & 0xFFFF) for t in WANTED]

            def run_gdcm() -> None:
                scanner = gdcm.Scanner()
                for tag in tags:
                    scanner.AddTag(tag)
                names = gdcm.FilenamesType()
                for f in files:
                    names.append(str(f))
                scanner.Scan(names)

            results["gdcm.Scanner (scan only)"] = timeit(run_gdcm, args.repeat)
        except ImportError:
            pass

        def run_raw() -> None:
            for f in files:
                with open(f, "rb") as fh:
                    fh.read(4096)

        results["read first 4 KiB"] = timeit(run_raw, args.repeat)
        ours, ours_cpu = results["bmes index_folder"]
        load = os.getloadavg()[0]
        print(f"\n{n} files, {os.cpu_count()} CPUs (load average {load:.1f}), median of "
              f"{args.repeat} warm runs\n")
        print(f"{'method':30s} {'wall s':>8s} {'files/s':>9s} {'ratio':>7s}   "
              f"{'CPU s':>7s} {'files/CPU s':>11s} {'ratio':>7s}")
        for name, (sec, cpu) in results.items():
            print(f"{name:30s} {sec:8.3f} {n / sec:9.0f} {sec / ours:6.2f}x   "
                  f"{cpu:7.3f} {n / max(cpu, 1e-9):11.0f} {cpu / max(ours_cpu, 1e-9):6.2f}x")
        print("\n(ratio = method time / index_folder time: > 1 means index_folder is faster;"
              "\n CPU columns are independent of other load on the machine)")
        met = n / ours >= 10_000
        print(f"target >= 10,000 files/s: {'met' if met else 'NOT met'} on wall time "
              f"({n / ours:.0f} files/s; {n / max(ours_cpu, 1e-9):.0f} files per CPU second)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
