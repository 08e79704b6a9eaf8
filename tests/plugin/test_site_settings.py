"""``bmes view --config`` / ``$BMES_CONFIG``: the review applies the site's settings.

The model needs no display: the detector runs for real on the small synthetic study,
once without and once with a site settings file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bmes_imaging.cli import main
from bmes_imaging.detection import detect_edema
from bmes_imaging.validation import SiteConfig, write_site_config
from bmes_imaging_napari._review_model import ReviewModel
from bmes_imaging_napari._study import Study


def _model(study, cache: Path) -> ReviewModel:
    model = ReviewModel(reader="AR", cache=cache)
    model.open(Study(t1=study.t1, fluid=study.stir, key="1.2.3.4.5", side="R"))
    return model


def test_site_settings_apply_to_the_review(synthetic_study, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BMES_CONFIG", raising=False)
    result = detect_edema(synthetic_study.t1, synthetic_study.stir,
                          bones=synthetic_study.bones, refine_alignment=False)
    positive = [f.bone for f in result.findings if f.grade >= 1]
    assert positive, "the synthetic study has edema the detector finds"

    plain = _model(synthetic_study, tmp_path / "c1")
    assert plain.site is None and plain.config is None
    plain.set_detection(result)
    assert [f.bone for f in plain.findings if f.grade >= 1] == sorted(positive, key=int)

    # a site whose decision threshold no finding reaches, and a detector override
    site = SiteConfig(detection={"min_region_ml": 0.05}, bone_score_min=1.01)
    path = write_site_config(tmp_path / "site.toml", site, header="test site")
    monkeypatch.setenv("BMES_CONFIG", str(path))
    strict = _model(synthetic_study, tmp_path / "c2")
    assert strict.config.min_region_ml == 0.05
    strict.set_detection(result)
    assert all(f.grade == 0 for f in strict.findings)  # demoted by the site's threshold
    assert not strict.edema.array.any()  # and their candidate voxels removed


def test_bmes_view_refuses_a_bad_settings_file_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text('format = "other"\n', encoding="utf-8")
    assert main(["view", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a bmes-imaging site settings file" in err and "Traceback" not in err
