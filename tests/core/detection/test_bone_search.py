"""Where and at what size the atlas search looks (issue 12, fourth pass):
``_search.body_size`` reads the foot size from the imaged body's width (fast, synthetic
body masks on a 6 mm grid)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.detection._search import _WIDTH_SD_PER_SIZE, body_centre, body_size

#: 6 mm grid, as the search's block means
AFF6 = np.diag([6.0, 6.0, 6.0, 1.0])


def _leg_and_foot(width_mm: float, flexion_deg: float = 0.0,
                  shape: tuple[int, int, int] = (40, 60, 60)) -> np.ndarray:
    """A boolean body on the 6 mm grid: a leg (vertical slab) and a foot (slab at
    ``flexion_deg`` from horizontal), both ``width_mm`` wide along the first axis
    (medial-lateral), about 50 mm thick."""
    x, y, z = np.indices(shape) * 6.0
    cx, cy, cz = (np.array(shape) - 1) * 3.0
    across = np.abs(x - cx) <= width_mm / 2
    leg = (np.abs(y - cy) <= 25) & (z >= cz)
    a = np.radians(flexion_deg)
    along = (y - cy) * np.cos(a) - (z - cz) * np.sin(a)
    normal = (y - cy) * np.sin(a) + (z - cz) * np.cos(a)
    foot = (np.abs(normal) <= 25) & (along >= -30) & (along <= 150)
    return np.asarray(across & (leg | foot))


@pytest.mark.parametrize("flexion", [0.0, 35.0])
def test_body_size_follows_the_width_of_the_body(flexion: float) -> None:
    """A wider body reads a larger size in proportion, whatever the flexion: the size
    is the width's standard deviation over the calibration constant."""
    # 8 and 10 voxels of 6 mm across: standard deviations 6 * sqrt((n^2 - 1) / 12)
    narrow = body_size(AFF6, _leg_and_foot(48.0, flexion))
    wide = body_size(AFF6, _leg_and_foot(60.0, flexion))
    assert narrow is not None and wide is not None
    sd8, sd10 = 6 * np.sqrt(63 / 12), 6 * np.sqrt(99 / 12)
    assert narrow == pytest.approx(sd8 / _WIDTH_SD_PER_SIZE, rel=0.03)
    assert wide == pytest.approx(sd10 / _WIDTH_SD_PER_SIZE, rel=0.03)


def test_body_size_ignores_small_regions_and_clips() -> None:
    """A few stray voxels do not change the size; nothing at all gives None; an
    implausibly wide body is clipped to the search's range."""
    body = _leg_and_foot(60.0)
    size = body_size(AFF6, body)
    stray = body.copy()
    stray[0, 0, 0] = stray[1, 0, 0] = True  # noise in a corner, not connected
    assert body_size(AFF6, stray) == size
    assert body_size(AFF6, np.zeros((10, 10, 10), dtype=bool)) is None
    huge = np.zeros((60, 60, 60), dtype=bool)
    huge[5:55, 5:55, 5:55] = True  # 300 mm across
    assert body_size(AFF6, huge) == pytest.approx(1.35)


def test_body_centre_uses_the_largest_region() -> None:
    """The centre is that of the largest body region, not of the field of view."""
    from bmes_imaging.volume import Volume

    t1 = Volume(np.zeros((20, 20, 20), dtype=np.float32), np.diag([6.0, 6.0, 6.0, 1.0]))
    body = np.zeros((20, 20, 20), dtype=bool)
    body[2:8, 3:9, 4:10] = True
    body[15, 15, 15] = True  # a smaller region elsewhere
    centre = body_centre(t1, t1.array, AFF6, body)
    assert np.allclose(centre, [4.5 * 6, 5.5 * 6, 6.5 * 6])


def test_a_body_cut_across_its_width_gives_no_size() -> None:
    """Slices that do not span the foot's width (the body reaches both ends of the grid
    along its narrowest direction) give None: the search keeps its fixed sizes. Cut at
    one end only, the size is still read."""
    full = _leg_and_foot(60.0)
    assert body_size(AFF6, full) is not None
    both = full[16:24]  # 8 of its 10 voxels across, both sides cut
    assert both.any(axis=(1, 2)).all()
    assert body_size(AFF6, both) is None
    one = full[16:]  # cut on one side only
    assert body_size(AFF6, one) is not None
