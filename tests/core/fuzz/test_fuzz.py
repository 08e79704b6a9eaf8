"""Bounded fuzz run: every mutation family and seeded random damage, in the test suite.

Each case is indexed and loaded (see ``dicom_fuzz.run_case``) and must end in a typed
error or a volume equal to the expected one; never a traceback, a MemoryError, a
silently wrong or partial volume, a refusal of valid input, the planted patient name
or ID in a message, or anything on stderr. The full table (>= 450 cases, each in a
child process under a 3 GB limit) is ``bench/bench_fuzz.py``.
"""

from __future__ import annotations

import time

import pytest

#: Cases per structured family in this bounded run, and random cases.
PER_FAMILY = 7
N_RANDOM = 14
#: Slow cases left to the benchmark (a 20000-deep nesting takes several seconds).
SLOW = ("20000 deep",)


def _budget(fuzz) -> list:
    by_family: dict[str, list] = {}
    for case in fuzz.structured_cases(bomb_bytes=48 << 20, bomb_limit=8 << 20):
        if not any(s in case.name for s in SLOW):
            by_family.setdefault(case.family, []).append(case)
    chosen = []
    for cases in by_family.values():
        step = max(1, len(cases) // PER_FAMILY)
        chosen += cases[::step][:PER_FAMILY]
    return chosen + fuzz.random_cases(N_RANDOM, seed=7)


def test_budget_covers_every_family(fuzz) -> None:
    cases = _budget(fuzz)
    assert {c.family for c in cases} == set(fuzz.FAMILIES)
    assert 50 <= len(cases) <= 70


def test_hostile_series_give_typed_errors_or_equal_volumes(fuzz, base_series, tmp_path,
                                                           capfd, monkeypatch) -> None:
    base, expected, affine = base_series
    failures = []
    verdicts: dict[str, int] = {}
    t0 = time.perf_counter()
    for i, case in enumerate(_budget(fuzz)):
        with monkeypatch.context() as m:
            for key, value in case.env.items():
                m.setenv(key, value)
            folder = tmp_path / f"case{i:03d}"
            fuzz.prepare(case, base, folder)
            capfd.readouterr()
            result = fuzz.run_case(case, folder, expected, affine,
                                   stderr_text=lambda: capfd.readouterr().err)
        verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
        if result["verdict"] not in ("typed", "equal") or result["leak"] or result["noise"]:
            failures.append(f"{case.family}: {case.name}: {result['verdict']} "
                            f"leak={result['leak']} {result['detail'][:200]}")
    assert not failures, "\n".join(failures)
    # both outcomes occur: the run is not vacuous
    assert verdicts.get("typed", 0) >= 20 and verdicts.get("equal", 0) >= 8, verdicts
    assert time.perf_counter() - t0 < 120


@pytest.mark.parametrize("name", ["deflated series (all)", "big endian series (all)",
                                  "private sequence 200 deep (undefined length)",
                                  "RescaleSlope -1 (all)"])
def test_valid_variants_load_equal(fuzz, base_series, tmp_path, name) -> None:
    base, expected, affine = base_series
    case = next(c for c in fuzz.structured_cases() if c.name == name)
    fuzz.prepare(case, base, tmp_path / "case")
    result = fuzz.run_case(case, tmp_path / "case", expected, affine)
    assert result["verdict"] == "equal", result
