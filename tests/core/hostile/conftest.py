"""Hostile input and faulty systems: hostile values, real mounts, the bmes command as a user.

Fixtures mount a small tmpfs (a full disk) and read-only bind mounts for real; they
skip with the reason when mounting is not permitted here (not root, no CAP_SYS_ADMIN).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

#: Hostile values written into every DICOM text attribute, file name, clinical field and
#: stated figure.
FORMULA = '=HYPERLINK("http://x","open")'
HOSTILE = (FORMULA, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\tTAB", "\rCR",
           "<img src=x onerror=alert(1)>", "\x1b]0;title\x07\x1b[2J")
#: A fake patient name: never in a log, nor on stdout without --show-identifiers.
NAME = "SURNAME^GIVEN"
NAME_PARTS = ("SURNAME", "GIVEN")

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # \t and \n are the tool's own
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_RAW_HTML = re.compile(r"<[A-Za-z/!?]")


def run_bmes(args: Sequence[str], *, env: dict[str, str] | None = None, umask: int = 0o022,
             user: str | None = None, timeout: float = 600,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``bmes ARGS`` in a fresh process under ``umask`` (as ``user`` via setpriv)."""
    cmd = [sys.executable, "-m", "bmes_imaging", *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}",
               "--clear-groups", *cmd]
    full_env = {**os.environ, "BMES_PSEUDONYM_KEY_FILE": os.environ.get(
        "BMES_PSEUDONYM_KEY_FILE", ""), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v != ""}

    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          preexec_fn=set_umask, cwd=cwd, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """A non-zero exit with ONE error line on stderr naming ``words``; no traceback."""
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w.lower() in errors[0].lower(), errors[0]
    for leak in ("INSERT", "SELECT", "UPDATE ", "[parameters", "[SQL"):
        assert leak not in proc.stderr, proc.stderr
    return errors[0]


def assert_terminal_clean(text: str) -> None:
    """No control character (ESC, BEL, CR, C1...) reaches the terminal."""
    bad = _CONTROL.findall(text)
    assert not bad, f"control characters {bad!r} in {text[:400]!r}"


def assert_csv_inert(path: Path) -> list[list[str]]:
    """No cell a spreadsheet would run as a formula; no raw control character."""
    text = path.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text, path
    rows = list(csv.reader(text.splitlines()))
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert _NUMBER.fullmatch(cell), f"{path.name}: formula-leading cell {cell!r}"
    return rows


def assert_no_raw_html(text: str) -> None:
    """No HTML tag, comment or processing instruction from data in a Markdown report."""
    found = _RAW_HTML.findall(text)
    assert not found, [text[m.start() - 20:m.start() + 40] for m in _RAW_HTML.finditer(text)]


def assert_private(path: Path) -> None:
    """Files 0600 and folders 0700 at and under ``path``."""
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in paths:
        mode = p.stat().st_mode & 0o777
        want = 0o700 if p.is_dir() else 0o600
        assert mode == want, f"{p}: {oct(mode)} (expected {oct(want)})"


def _mount(args: list[str]) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Any]:
    """``tmpfs(size)``: a tmpfs of ``size`` (e.g. ``"256k"``), a disk that fills up;
    unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        try:
            _mount(["-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)])
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {exc}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmpfs: Any) -> Path:
    """A 256 KiB tmpfs."""
    return tmpfs("256k")  # type: ignore[no-any-return]


def fill(disk: Path) -> None:
    """Fill ``disk`` to the last byte."""
    for name, chunk in (("filler.bin", 4096), ("filler2.bin", 1)):
        try:
            with open(disk / name, "ab", buffering=0) as fh:
                while True:
                    fh.write(b"\0" * chunk)
        except OSError:
            pass


@pytest.fixture
def read_only_bind(tmp_path: Path) -> Iterator[Any]:
    """Make a folder read-only with a read-only bind mount: ``make_ro(folder)``."""
    mounted: list[Path] = []

    def make_ro(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            _mount(["--bind", str(folder), str(folder)])
            mounted.append(folder)
            _mount(["-o", "remount,ro,bind", str(folder)])
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            pytest.skip(f"cannot bind-mount read-only here (needs root): {exc}")
        return folder

    yield make_ro
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def sample_table() -> Path:
    from bmes_imaging.clinical import sample_table_path

    return Path(sample_table_path())


def small_archive(root: Path, n: int) -> None:
    """``n`` small T1 + STIR studies (random voxels: for --check-only runs)."""
    import numpy as np

    from bmes_imaging import Volume
    from bmes_imaging.dicom import write_series

    affine = np.array([[0, 0, -3.0, 0], [0.8, 0, 0, -50], [0, 0.8, 0, -40], [0, 0, 0, 1]])
    t1 = {"ScanningSequence": "SE", "SequenceVariant": "SK", "RepetitionTime": 520,
          "EchoTime": 12}
    stir = {"ScanningSequence": ["SE", "IR"], "SequenceVariant": "SK",
            "RepetitionTime": 4200, "EchoTime": 40, "InversionTime": 160}
    for k in range(n):
        rng = np.random.default_rng(k)
        common = {"patient_id": f"P{k}", "patient_name": "SURNAME^GIVEN",
                  "study_instance_uid": f"1.2.826.0.1.3680043.8.498.9{k}"}
        for number, (desc, attrs) in enumerate((("T1 TSE SAG", t1), ("STIR SAG", stir)), 1):
            vol = Volume(rng.uniform(50, 900, (40, 32, 8)).astype(np.float32), affine)
            write_series(vol, root / f"s{k}", series_number=number, series_description=desc,
                         uid_seed=f"{desc}-{k}", attributes={**attrs, "Laterality": "R"},
                         filename_pattern=f"S{number}_{{index:05d}}.dcm", **common)
