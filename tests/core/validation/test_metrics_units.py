"""The one metrics module, the score, ROC / FROC, calibration and the site settings file,
against values computed independently (by formula, by brute force, by hand)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.metrics import Confusion, bland_altman, cohen_kappa, dice, wilson_interval
from bmes_imaging.validation import (
    LogisticCalibration,
    SiteConfig,
    SiteConfigError,
    bone_score,
    fit_logistic,
    load_site_config,
    reliability_table,
    roc_curve,
    write_site_config,
)
from bmes_imaging.validation._reads import BoneRead


def test_wilson_matches_the_closed_form_and_stays_in_0_1() -> None:
    # Wilson (1927): (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.96
    for k, n in [(8, 10), (0, 20), (20, 20), (37, 52)]:
        z = 1.959963984540054
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(max(0, centre - half), abs=1e-12)
        assert hi == pytest.approx(min(1, centre + half), abs=1e-12)
        assert 0.0 <= lo <= p <= hi <= 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    # published example (Newcombe 1998, table I): 81/263 -> 0.2553-0.3662
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_kappa_dice_confusion_and_bland_altman_by_hand() -> None:
    truth = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    calls = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
    c = Confusion.from_calls(truth, calls)
    assert (c.tp, c.fn, c.fp, c.tn) == (3, 1, 1, 5)
    assert (c.sensitivity, c.specificity, c.ppv) == (0.75, 5 / 6, 0.75)
    # kappa: p_o = 0.8, p_e = 0.4*0.4 + 0.6*0.6 = 0.52 -> (0.8-0.52)/0.48
    assert cohen_kappa(truth, calls) == pytest.approx(0.28 / 0.48)
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2, :2] = True
    b[1:3, :2] = True
    assert dice(a, b) == pytest.approx(2 * 2 / (4 + 4))
    assert math.isnan(dice(np.zeros(3), np.zeros(3)))
    ba = bland_altman([2.0, 4.0, 6.0, 8.0], [1.0, 4.0, 5.0, 9.0])
    d = np.array([1.0, 0.0, 1.0, -1.0])
    assert ba.bias == pytest.approx(d.mean())
    assert ba.sd == pytest.approx(d.std(ddof=1))
    assert ba.upper - ba.bias == pytest.approx(1.959963984540054 * d.std(ddof=1))


def test_store_agreement_uses_the_same_definitions() -> None:
    from bmes_imaging import store

    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert store.cohen_kappa(x, y) == cohen_kappa(x, y)
    assert store.dice(x, y) == dice(x, y)


def test_score_orders_every_positive_call_above_every_negative() -> None:
    pos = [bone_score(SimpleNamespace(grade=g, confidence=c)) for g in (1, 3)
           for c in (0.0, 0.4, 1.0)]
    neg = [bone_score(SimpleNamespace(grade=0, confidence=c)) for c in (0.0, 0.4, 1.0)]
    assert min(pos) >= 0.5 > max(neg)
    assert bone_score(SimpleNamespace(grade=0, confidence=0.2, score=7.5)) == 7.5
    assert bone_score(SimpleNamespace(grade=1, confidence=None)) == 0.5


def _read(score: float, truth: bool | None, call: bool) -> BoneRead:
    return BoneRead("1.2", None, "A", Bone.TALUS, score, math.nan, call, truth, "x", 0.0,
                    0.0, math.nan, "STIR", "not recorded")


def test_roc_points_and_auc_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(40), 2)
    truth = rng.random(40) < scores
    reads = [_read(float(s), bool(t), bool(s >= 0.5)) for s, t in zip(scores, truth, strict=True)]
    reads.append(_read(0.9, None, True))  # undecided: left out
    roc = roc_curve(reads)
    for p in roc.points[1:]:
        calls = scores >= p.threshold
        assert p.confusion.tp == int((calls & truth).sum())
        assert p.confusion.fp == int((calls & ~truth).sum())
    pairs = list(itertools.product(scores[truth], scores[~truth]))
    auc = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert roc.auc == pytest.approx(auc)
    assert roc.operating == Confusion.from_calls(truth, scores >= 0.5)
    assert roc.at(0.5) == roc.operating


def test_reliability_and_logistic_fit() -> None:
    rng = np.random.default_rng(1)
    s = rng.random(4000)
    true = LogisticCalibration(-4.0, 8.0)
    y = rng.random(4000) < true.probability(s)
    cal = fit_logistic(s, y)
    assert cal.intercept == pytest.approx(-4.0, abs=0.5)
    assert cal.slope == pytest.approx(8.0, abs=1.0)
    rows = reliability_table(true.probability(s), y)
    assert sum(r["bones"] for r in rows) == 4000
    for r in rows:  # a calibrated probability lies within its bin's interval (mostly)
        assert r["observed_low"] - 0.05 <= r["mean_probability"] <= r["observed_high"] + 0.05
    with pytest.raises(ValueError, match="positive and negative"):
        fit_logistic([0.1, 0.2], [True, True])
    # perfectly separated reads still give a finite, steep, monotone curve
    sep = fit_logistic([0.1, 0.2, 0.3, 0.7, 0.8], [False, False, False, True, True])
    assert math.isfinite(sep.slope) and sep.slope > 10


def test_site_config_round_trip_and_errors(tmp_path) -> None:
    site = SiteConfig(detection={"fluid_ratio_min": 3.5, "grade_limits": (0.2, 0.6)},
                      bone_score_min=0.7125, calibration=LogisticCalibration(-9.5, 14.25),
                      fitted_on={"studies": 12, "readers": 2, "first_read": "2026-01-02"},
                      expected={"sensitivity": 0.9, "sensitivity_ci": [0.8, 0.95]})
    path = write_site_config(tmp_path / "site.toml", site, header="test\nsecond line")
    back = load_site_config(path)
    assert back.detection == site.detection and back.bone_score_min == 0.7125
    assert back.calibration == site.calibration
    assert dict(back.fitted_on) == dict(site.fitted_on)
    assert back.detection_config().fluid_ratio_min == 3.5
    assert back.detection_config().grade_limits == (0.2, 0.6)
    bad = tmp_path / "bad.toml"
    for text, match in [
        ('format = "bmes-site-config"\nversion = 1\n[detection]\nfluid_min = 2\n',
         "fluid_min is not a detector setting"),
        ('format = "other"\n', "not a bmes-imaging site settings file"),
        ('format = "bmes-site-config"\nversion = 1\n[decision]\nbone_score_min = "x"\n',
         "bone_score_min must be a finite number"),
        ("not toml [", "not valid TOML"),
    ]:
        bad.write_text(text)
        with pytest.raises(SiteConfigError, match=match) as err:
            load_site_config(bad)
        assert str(bad) in str(err.value)
    with pytest.raises(SiteConfigError, match="not found"):
        load_site_config(tmp_path / "missing.toml")


def test_apply_demotes_below_threshold_and_calibrates() -> None:
    from bmes_imaging.detection import BoneFinding

    f = [BoneFinding(Bone.TALUS, 50, 10, 0.2, 1, 0.6, 4.0, 0.9),   # score 0.95
         BoneFinding(Bone.NAVICULAR, 10, 1, 0.1, 1, 0.7, 3.0, 0.3),  # score 0.65
         BoneFinding(Bone.CUBOID, 10, 0, 0.0, 0, 0.9, 1.2, 0.8)]     # score 0.1
    cal = LogisticCalibration(-5.0, 10.0)
    out, demoted = SiteConfig(bone_score_min=0.8, calibration=cal).apply_to_findings(f)
    assert demoted == [Bone.NAVICULAR]
    assert [g.grade for g in out] == [1, 0, 0]
    assert out[1].edema_volume_ml == 0.0 and f[1].grade == 1  # originals untouched
    assert out[0].confidence == round(cal.probability(0.95), 3)
    assert out[1].confidence == round(1 - cal.probability(0.65), 3)
    assert out[2].confidence == round(1 - cal.probability(0.1), 3)
