"""``bmes validate`` on phantom studies with simulated reader reviews in a real store.

The figures are recomputed here by hand from the same reviews (which bones the reader
confirmed, rejected, painted or relabelled, and the label maps), independently of the
validation code; a fitted settings file is checked on a second, separate set of
studies; and the store's contents are compared before and after validation.
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.errors import StoreError
from bmes_imaging.store import open_store
from bmes_imaging.validation import (
    SITE_CONFIG_NAME,
    SiteConfigError,
    load_site_config,
    validate,
)

from .conftest import Detected, Review, save_reviewed, simulate_review

pytestmark = pytest.mark.slow

# reviews of set A, chosen so that every kind of read occurs
REVIEWS_A = [
    {"reject": ("navicular",), "paint": ("calcaneus",)},
    {"relabel": {"intermediate_cuneiform": "lateral_cuneiform"}, "paint": ("first_metatarsal",),
     "leave_undecided": ("talus",)},
]


def _store_snapshot(store: Any) -> tuple[Any, ...]:
    """Every row of every table, and every label file's bytes."""
    from sqlalchemy import MetaData, select

    meta = MetaData()
    meta.reflect(bind=store.engine)
    with store.engine.connect() as conn:
        tables = {name: sorted(map(repr, conn.execute(select(t)).all()))
                  for name, t in sorted(meta.tables.items())}
    files = {p.relative_to(store.annotation_dir).as_posix():
             hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(store.annotation_dir.rglob("*")) if p.is_file()}
    return tuple(sorted(tables.items())), tuple(sorted(files.items()))


@pytest.fixture(scope="module")
def reviewed_a(phantom_sets, tmp_path_factory) -> tuple[Path, list[tuple[Detected, Any, Review]]]:
    db = tmp_path_factory.mktemp("store_a") / "bmes.sqlite"
    done = []
    with open_store(db) as store:
        for det, kw in zip(phantom_sets["A"], REVIEWS_A, strict=True):
            findings, review = simulate_review(det, **kw)
            save_reviewed(store, det, findings, review)
            done.append((det, findings, review))
        # a second reader on the first study, to check --reader
        det = phantom_sets["A"][0]
        f2, r2 = simulate_review(det)
        save_reviewed(store, det, f2, r2, reader="Reader B")
    return db, done


def _hand_figures(done: list[tuple[Detected, Any, Review]], only: Bone | None = None
                  ) -> dict[str, float]:
    """Sensitivity, specificity, PPV, kappa, pooled Dice and volume bias, by hand."""
    tp = fp = tn = fn = 0
    truth, calls, diffs = [], [], []
    inter = size = 0
    for det, _, review in done:
        res = det.result
        edema = np.asarray(res.edema.array)
        labels = review.labels
        vml = res.bones.voxel_volume_ml
        for f in res.findings:
            b = f.bone
            if (only is not None and b != only) or b in review.undecided:
                continue
            t, c = b in review.positive, f.grade >= 1
            assert t or b in review.negative
            tp += t and c
            fn += t and not c
            fp += c and not t
            tn += not t and not c
            truth.append(int(t))
            calls.append(int(c))
            if t or c:
                det_ml = float((edema == int(b)).sum()) * vml
                read_ml = float((labels == int(b)).sum()) * vml if t else 0.0
                diffs.append(det_ml - read_ml)
        cand = (edema > 0) & ~np.isin(edema, [int(b) for b in review.undecided])
        final = np.isin(labels, [int(b) for b in review.positive])
        inter += int((cand & final).sum())
        size += int(cand.sum() + final.sum())
    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    n = len(truth)
    p_o = (tp + tn) / n
    p_e = ((tp + fp) / n) * ((tp + fn) / n) + ((tn + fn) / n) * ((tn + fp) / n)
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "kappa": ratio(p_o - p_e, 1 - p_e), "dice": ratio(2 * inter, size),
            "bias": float(np.mean(diffs)),
            "sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan}


def test_figures_equal_the_hand_count(reviewed_a, tmp_path) -> None:
    db, done = reviewed_a
    out = tmp_path / "validation"
    rc = main(["validate", "--db", str(db), "--reader", "Reader A", "--out", str(out)])
    assert rc == 0
    with open_store(db) as store:
        res = validate(store, tmp_path / "again", reader="Reader A")
    hand = _hand_figures(done)
    o = res.overall
    c = o.confusion
    assert (c.tp, c.fp, c.tn, c.fn) == (hand["tp"], hand["fp"], hand["tn"], hand["fn"])
    assert c.sensitivity == pytest.approx(hand["sensitivity"])
    assert c.specificity == pytest.approx(hand["specificity"])
    assert c.ppv == pytest.approx(hand["ppv"])
    assert o.kappa == pytest.approx(hand["kappa"])
    assert o.dice_pooled == pytest.approx(hand["dice"])
    assert o.volume.bias == pytest.approx(hand["bias"])
    assert o.volume.sd == pytest.approx(hand["sd"])
    assert o.undecided == 1 and o.studies == 2 and o.readers == 1
    # per bone: the talus row equals the hand count restricted to the talus
    talus = next(s for s in res.summaries if s.group == "bone" and s.value == "talus")
    hand_talus = _hand_figures(done, only=Bone.TALUS)
    assert (talus.confusion.tp, talus.confusion.fn) == (hand_talus["tp"], hand_talus["fn"])
    # every kind of read was seen and counted as the reviews say
    how = {(b.bone.bone_name, b.how, b.reader_call) for b in res.reads.bone_reads}
    assert ("navicular", "rejected", False) in how
    assert ("calcaneus", "painted", True) in how
    assert ("lateral_cuneiform", "relabelled", True) in how
    assert ("intermediate_cuneiform", "relabelled", False) in how
    assert ("talus", "unreviewed", None) in how
    # groups: the fluid sequence from the registered series; no scanner recorded
    assert {s.value for s in res.summaries if s.group == "sequence"} == {"STIR"}
    assert {s.value for s in res.summaries if s.group == "scanner"} == {"not recorded"}
    # the CSV the command wrote holds the same overall row
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]
    assert (first["group"], int(first["tp"]), int(first["fn"])) == ("overall", c.tp, c.fn)
    assert float(first["sensitivity"]) == pytest.approx(hand["sensitivity"], abs=1e-4)
    for name in ("roc.csv", "froc.csv", "reliability.csv", "bone_reads.csv", "roc.png",
                 "froc.png", "reliability.png", "bland_altman.png", "report.md",
                 "report.html"):
        assert (out / name).is_file(), name


def test_froc_counts_regions_and_lesions_by_hand(reviewed_a, tmp_path) -> None:
    db, done = reviewed_a
    with open_store(db) as store:
        res = validate(store, tmp_path / "v", reader="Reader A")
    lesions = fp_regions = 0
    st = np.ones((3, 3, 3), bool)
    for det, _, review in done:
        edema = np.asarray(det.result.edema.array)
        final = np.isin(review.labels, [int(b) for b in review.positive])
        lesions += ndimage.label(final, structure=st)[1]
        for b in np.unique(edema[edema > 0]):
            if Bone(int(b)) in review.undecided:
                continue
            lab, n = ndimage.label(edema == b, structure=st)
            fp_regions += sum(1 for k in range(1, n + 1) if not final[lab == k].any())
    last = res.froc[-1]
    assert last.lesions == lesions
    assert last.false_positive_regions == fp_regions
    assert fp_regions >= 1  # the rejected navicular candidate
    assert res.froc[0].lesions_found == 0 and res.froc[0].false_positive_regions == 0


def test_reader_filter_and_since(reviewed_a, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    db, _ = reviewed_a
    with open_store(db) as store:
        both = validate(store, tmp_path / "all")
        assert both.overall.readers == 2 and both.overall.reads == 3
        with pytest.raises(StoreError, match="reader 'Nobody' has no saved review"):
            validate(store, tmp_path / "x", reader="Nobody")
        later = datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(StoreError, match="before --since"):
            validate(store, tmp_path / "y", since=later)


def test_validate_never_modifies_the_store(reviewed_a, tmp_path) -> None:
    db, _ = reviewed_a
    with open_store(db) as store:
        before = _store_snapshot(store)
        validate(store, tmp_path / "v1")
        with pytest.raises(SiteConfigError):
            validate(store, tmp_path / "v2", fit=True)
        after = _store_snapshot(store)
    assert before == after


def test_fit_refuses_too_few_reads_and_says_how_many(reviewed_a, tmp_path) -> None:
    db, _ = reviewed_a
    with (open_store(db) as store,
          pytest.raises(SiteConfigError, match="at least 20 positive and 20 negative")):
        validate(store, tmp_path / "v", fit=True)
    assert not (tmp_path / "v" / SITE_CONFIG_NAME).exists()
    assert (tmp_path / "v" / "report.html").is_file()  # the report is still written
    assert "too few reads" in (tmp_path / "v" / "report.md").read_text()
    rc = main(["validate", "--db", str(db), "--out", str(tmp_path / "cli"), "--fit"])
    assert rc == 1


def _reviews(dets: list[Detected], cut: float, store: Any, results: list[Any] | None = None
             ) -> None:
    """Reader rule: rejects positive candidates with confidence below ``cut`` (on the
    detector's unmodified output) and paints one bone the detector missed."""
    for i, det in enumerate(dets):
        missed = [f.bone.bone_name for f in det.result.findings
                  if f.grade == 0 and f.bone not in (Bone.TIBIA, Bone.FIBULA)]
        findings, review = simulate_review(det, reject_below=cut, paint=(missed[0],))
        save_reviewed(store, det, findings, review,
                      detector_result=None if results is None else results[i])


def test_fitted_settings_move_the_operating_point_as_the_roc_said(phantom_sets, tmp_path
                                                                  ) -> None:
    a, b = phantom_sets["A"], phantom_sets["B"]
    confs = sorted({f.confidence for d in a + b for f in d.result.findings if f.grade >= 1})
    if len(confs) < 2:
        pytest.skip("the detector gave every positive bone the same confidence: no "
                    "threshold above its own to fit")
    cut = float(np.median(confs))
    with open_store(tmp_path / "a.sqlite") as store:
        _reviews(a, cut, store)
        fitted = validate(store, tmp_path / "fit", fit=True, min_positive=3, min_negative=10)
    assert fitted.site_path is not None
    site = load_site_config(fitted.site_path)
    t = site.bone_score_min
    assert t is not None and t > fitted.roc.operating_threshold  # stricter than now
    predicted = fitted.roc.at(t)
    assert predicted.specificity > fitted.roc.operating.specificity  # ROC on A says so
    assert site.expected["specificity"] == pytest.approx(predicted.specificity, abs=1e-4)
    assert site.fitted_on["studies"] == 2 and site.fitted_on["readers"] == 1
    # set B, detector as it is: its ROC and operating point
    with open_store(tmp_path / "b_raw.sqlite") as store:
        _reviews(b, cut, store)
        raw = validate(store, tmp_path / "b_raw")
    # set B, detector with the fitted settings applied; the reads are the same
    applied = [site.apply_to_result(d.result) for d in b]
    with open_store(tmp_path / "b_site.sqlite") as store:
        _reviews(b, cut, store, results=applied)
        moved = validate(store, tmp_path / "b_site")
    assert moved.roc.operating == raw.roc.at(t)  # exactly where B's ROC put it
    assert moved.roc.operating.specificity > raw.roc.operating.specificity
    assert moved.roc.operating.sensitivity <= raw.roc.operating.sensitivity
    # what A's ROC predicted (Wilson 95 % intervals written in the file) holds on B
    for name in ("sensitivity", "specificity"):
        lo, hi = site.expected[f"{name}_ci"]
        assert lo <= getattr(moved.roc.operating, name) <= hi, name
    # `bmes detect --config` gives the same calls on a study of set B
    det = b[0]
    out = tmp_path / "detect_b0"
    rc = main(["detect", str(det.study_dir / "dicom"), "--out", str(out), "--bones",
               str(det.study_dir / "truth" / "bones.nii.gz"), "--config",
               str(fitted.site_path)])
    assert rc == 0
    with open(out / "involvement.csv", newline="") as fh:
        grades = {r["bone"]: int(r["grade"]) for r in csv.DictReader(fh)}
    assert grades == {f.bone.bone_name: f.grade for f in applied[0].findings}


def test_screen_with_site_settings_applies_the_decision(phantom_sets, tmp_path) -> None:
    from bmes_imaging.screening import screen
    from bmes_imaging.validation import (
        LogisticCalibration,
        SiteConfig,
        bone_score,
        write_site_config,
    )

    det = phantom_sets["B"][1]
    raw = screen(det.study_dir, tmp_path / "raw", inline=True, progress=False)
    assert raw.n_done == 1
    with open(tmp_path / "raw" / "involvement.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scores = sorted(bone_score(SimpleNamespace(grade=int(r["grade"]),
                                               confidence=float(r["confidence"])))
                    for r in rows if int(r["grade"]) >= 1)
    if len(set(scores)) < 2:
        pytest.skip("fewer than two distinct positive scores: nothing to demote")
    site = SiteConfig(bone_score_min=scores[-1], calibration=LogisticCalibration(-5.0, 10.0))
    path = write_site_config(tmp_path / "site.toml", site)
    rc = main(["screen", str(det.study_dir), "--out", str(tmp_path / "site"), "--workers",
               "1", "--no-progress", "--config", str(path)])
    assert rc == 0
    with open(tmp_path / "site" / "involvement.csv", newline="") as fh:
        got = {r["bone"]: r for r in csv.DictReader(fh)}
    for r in rows:
        demote, conf = site.decide(SimpleNamespace(grade=int(r["grade"]),
                                                   confidence=float(r["confidence"])))
        g = got[r["bone"]]
        assert int(g["grade"]) == (0 if demote else int(r["grade"])), r["bone"]
        assert float(g["confidence"]) == pytest.approx(conf, abs=1e-3)
    kept = {r["bone"] for r in got.values() if int(r["grade"]) >= 1}
    assert len(kept) >= 1
    (study_dir,) = (tmp_path / "site" / "studies").iterdir()
    from bmes_imaging.volume import load_nifti

    labels = set(np.unique(load_nifti(study_dir / "edema.nii.gz").array).tolist()) - {0}
    assert {Bone(int(v)).bone_name for v in labels} <= kept
