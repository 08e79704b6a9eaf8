"""Inter-reader agreement: Cohen's kappa of involvement, Dice of edema masks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.store import cohen_kappa, dice, open_store, reader_agreement
from bmes_imaging.volume import Volume


def _kappa_by_table(a: list[int], b: list[int]) -> float:
    n = len(a)
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    neither = sum(1 for x, y in zip(a, b, strict=True) if not x and not y)
    pa, pb = sum(a) / n, sum(b) / n
    p_o = (both + neither) / n
    p_e = pa * pb + (1 - pa) * (1 - pb)
    return (p_o - p_e) / (1 - p_e)


def test_kappa_and_dice_functions() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, 50).tolist()
    b = [x if rng.random() < 0.8 else 1 - x for x in a]
    assert cohen_kappa(a, b) == pytest.approx(_kappa_by_table(a, b))
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))
    m1 = rng.random((6, 6, 6)) > 0.5
    m2 = rng.random((6, 6, 6)) > 0.5
    expected = 2 * np.logical_and(m1, m2).sum() / (m1.sum() + m2.sum())
    assert dice(m1, m2) == pytest.approx(expected)
    assert math.isnan(dice(np.zeros(3), np.zeros(3)))


def test_reader_agreement_from_store(store_url: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = store_url
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    a1 = np.zeros((10, 10, 4), np.uint8)
    a1[2:6, 2:6, 1:3] = int(Bone.TALUS)
    b1 = np.zeros_like(a1)
    b1[3:7, 2:6, 1:3] = int(Bone.TALUS)
    b1[8, 8, 0] = int(Bone.CUBOID)
    calls = {"a": {"1.1": {Bone.TALUS: 2}, "1.2": {Bone.NAVICULAR: 1, Bone.TALUS: 1}},
             "b": {"1.1": {Bone.TALUS: 2, Bone.CUBOID: 1}, "1.2": {Bone.NAVICULAR: 2}}}
    with open_store(db) as store:
        for reader, arrays in (("a", (a1, a1)), ("b", (b1, a1))):
            for uid, arr in zip(("1.1", "1.2"), arrays, strict=True):
                findings = [{"bone": bone, "grade": g, "status": "confirmed"}
                            for bone, g in calls[reader][uid].items()]
                # a rejected finding does not count as involvement
                findings.append({"bone": Bone.FIBULA, "grade": 1, "status": "rejected"})
                store.save_annotation(uid, reader, findings, Volume(arr, affine))
        store.save_annotation("1.3", "a", [], Volume(a1, affine))  # only reader a
        report = reader_agreement(store, "a", "b")
    by_uid = {s.study_instance_uid: s for s in report.studies}
    assert set(by_uid) == {"1.1", "1.2"} and report.skipped == [("1.3", "no annotation by b")]

    def vector(uid: str, reader: str) -> list[int]:
        return [1 if bone in calls[reader][uid] else 0 for bone in Bone]

    for uid in ("1.1", "1.2"):
        assert by_uid[uid].kappa == pytest.approx(_kappa_by_table(vector(uid, "a"),
                                                                  vector(uid, "b")))
    pooled = _kappa_by_table(vector("1.1", "a") + vector("1.2", "a"),
                             vector("1.1", "b") + vector("1.2", "b"))
    assert report.pooled_kappa == pytest.approx(pooled)
    assert by_uid["1.1"].dice == pytest.approx(dice(a1 > 0, b1 > 0))
    assert by_uid["1.2"].dice == pytest.approx(1.0)
    inter = np.logical_and(a1 > 0, b1 > 0).sum() + (a1 > 0).sum()
    size = (a1 > 0).sum() + (b1 > 0).sum() + 2 * (a1 > 0).sum()
    assert report.pooled_dice == pytest.approx(2 * inter / size)
    assert by_uid["1.1"].involved_b == ("talus", "cuboid")

    assert main(["agreement", "a", "b", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled_kappa"] == pytest.approx(pooled)
    assert main(["agreement", "a", "b", "--db", str(db)]) == 0
    assert "pooled over 2 studies" in capsys.readouterr().out


def test_masks_on_different_grids_are_resampled(store_url: str) -> None:
    rng = np.random.default_rng(7)
    fine = (rng.random((8, 6, 5)) > 0.6).astype(np.uint8)
    # the same mask stored on a flipped, axis-swapped grid: identical in world space
    swapped = np.ascontiguousarray(fine[::-1].transpose(1, 0, 2))
    affine_b = np.array([[0.0, -1.0, 0.0, 7.0], [1.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    with open_store(store_url) as store:
        store.save_annotation("5.5", "a", [{"bone": 1, "grade": 1}], Volume(fine, np.eye(4)))
        store.save_annotation("5.5", "b", [{"bone": 1, "grade": 1}],
                              Volume(swapped, affine_b))
        report = reader_agreement(store, "a", "b")
    assert report.studies[0].dice == pytest.approx(1.0)


def test_both_feet_in_one_study_are_compared_foot_by_foot(store_url: str) -> None:
    """Two readers, one study holding both feet: agreement per foot (T1 series), never
    one foot's review against the other foot's."""
    from bmes_imaging.volume import SeriesInfo

    store = open_store(store_url)
    uid = "1.2.826.0.1.3680043.10.999.77"
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    feet = {}
    for n, series in enumerate(("1.2.3.900.1", "1.2.3.900.2")):
        arr = np.zeros((10, 10, 4), np.uint8)
        arr[2 + 3 * n: 5 + 3 * n, 2:5, 1:3] = int(Bone.TALUS) if n == 0 else int(Bone.CALCANEUS)
        feet[series] = Volume(arr, affine, SeriesInfo(series_instance_uid=series))
    bone = {"1.2.3.900.1": "talus", "1.2.3.900.2": "calcaneus"}
    for reader in ("dr_a", "dr_b"):  # both readers agree on each foot
        for series, vol in feet.items():
            store.save_annotation(uid, reader, [{"bone": bone[series], "grade": 1}], vol)
    report = reader_agreement(store, "dr_a", "dr_b")
    assert [s.series_instance_uid for s in report.studies] == sorted(feet)
    assert [s.involved_a for s in report.studies] == [("talus",), ("calcaneus",)]
    assert all(s.involved_a == s.involved_b for s in report.studies)
    assert all(s.dice == 1.0 and s.kappa == 1.0 for s in report.studies)
    assert report.pooled_dice == 1.0
    store.close()
