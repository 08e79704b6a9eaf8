"""The site's atlas library: ``bmes atlas add / list``, storage, label fusion (issue 12)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.bones import TARSAL_BONES
from bmes_imaging.cli import main
from bmes_imaging.detection import automatic_bones
from bmes_imaging.detection._atlas_library import (
    ATLAS_DIR_ENV,
    add_atlas,
    atlas_dir,
    fuse_labels,
    list_atlases,
)
from bmes_imaging.errors import DetectionError
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study


@pytest.fixture(scope="module")
def written_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atlas") / "study"
    write_study(generate_study(PhantomSpec(seed=21, side="R", resolution=2.0, snr=None)), root)
    return root


def test_atlas_add_and_list_beside_the_store(written_study: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(ATLAS_DIR_ENV, raising=False)
    db = tmp_path / "site" / "bmes.sqlite"
    assert main(["atlas", "add", str(written_study), "--bones",
                 str(written_study / "truth" / "bones.nii.gz"), "--db", str(db)]) == 0
    assert "R foot, 14 bones" in capsys.readouterr().out
    found = list_atlases(tmp_path / "site" / "atlases")
    assert len(found) == 1 and found[0].side == "R" and len(found[0].bones) == 14
    folder = found[0].path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("t1.nii.gz", "bones.nii.gz", "atlas.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert "PH21" not in (folder / "atlas.json").read_text()  # no patient identifier
    assert main(["atlas", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "shipped" in out and found[0].name in out and "1 site atlas(es)" in out


def test_atlas_dir_env_and_server_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv(ATLAS_DIR_ENV, str(tmp_path / "lib"))
    assert atlas_dir("postgresql://db.example/bmes") == tmp_path / "lib"
    monkeypatch.delenv(ATLAS_DIR_ENV)
    assert atlas_dir(tmp_path / "x.sqlite") == tmp_path / "atlases"
    with pytest.raises(DetectionError, match="BMES_ATLAS_DIR"):
        atlas_dir("postgresql://db.example/bmes")


def test_an_atlas_needs_three_bones_and_a_side(written_study: Path, tmp_path: Path) -> None:
    study = generate_study(PhantomSpec(seed=22, resolution=4.0, snr=None))
    few = study.bones.array.copy()
    few[few > 2] = 0
    from bmes_imaging.volume import Volume

    with pytest.raises(DetectionError, match="at least three"):
        add_atlas(study.t1, Volume(few, study.bones.affine), tmp_path)
    no_side = study.t1.__class__(study.t1.array, study.t1.affine,
                                 study.t1.info.replace(laterality=None))
    with pytest.raises(DetectionError, match="--side"):
        add_atlas(no_side, study.bones, tmp_path)


def test_weighted_vote_follows_the_majority_and_the_better_match() -> None:
    a = np.zeros((6, 6, 6), np.uint8)
    a[1:5, 1:5, 1:5] = 1
    b = a.copy()
    b[1:5, 1:5, 4] = 2  # one atlas disagrees on a slab
    fused, agree = fuse_labels([(a, 1.10), (a.copy(), 1.10), (b, 1.10)])
    assert np.array_equal(fused, a)
    assert 0.9 < agree[1] < 1.0
    # two atlases: the clearly better match decides
    fused2, _ = fuse_labels([(b, 1.15), (a, 1.10)])
    assert np.array_equal(fused2, b)


@pytest.mark.slow
def test_site_atlas_is_fused_with_the_shipped_one(tmp_path: Path) -> None:
    """A confirmed study of another (left) foot serves a right foot mirrored; the
    fused masks fit the new foot."""
    donor = generate_study(PhantomSpec(seed=23, side="L", resolution=2.0, snr=None,
                                       size=1.1))
    add_atlas(donor.t1, donor.bones, tmp_path)
    study = generate_study(PhantomSpec(seed=24, side="R", resolution=2.0, edema_bones=(
        "navicular",), edema_extent="diffuse"))
    bones = automatic_bones(study.t1, library=tmp_path)
    assert bones.info.extra["atlases_fused"] == 2
    truth = study.bones.array
    for b in TARSAL_BONES:
        t, p = truth == int(b), bones.array == int(b)
        dice = 2 * (t & p).sum() / (t.sum() + p.sum())
        assert dice > 0.8, (b, dice)
