"""The findings table shows unmeasured values of a stored finding as empty cells.

Since the one finding model, a finding loaded from the store without a grade keeps
``grade=None`` and unknown numbers are NaN; the table must not print "None" or "nan".
"""

from __future__ import annotations

import math

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.findings import Finding
from bmes_imaging_napari._qt._findings_table import FindingsTable

pytestmark = pytest.mark.gui


def test_unmeasured_values_are_empty_cells_and_measured_ones_are_formatted(qtbot) -> None:
    table = FindingsTable()
    qtbot.addWidget(table)
    ungraded = Finding(Bone.TALUS, bone_volume_ml=math.nan, edema_volume_ml=math.nan,
                       fraction=math.nan, grade=None, t1_ratio=math.nan,
                       fluid_ratio=math.nan, confidence=math.nan, status="confirmed",
                       source="reader")
    graded = Finding(Bone.CALCANEUS, bone_volume_ml=80.0, edema_volume_ml=12.345,
                     fraction=0.1543, grade=1, t1_ratio=0.7, fluid_ratio=2.5,
                     confidence=0.876)
    table.setRowCount(2)
    table.fill_row(0, ungraded)
    table.fill_row(1, graded)
    row0 = [table.item(0, c).text() for c in range(table.columnCount())]
    row1 = [table.item(1, c).text() for c in range(table.columnCount())]
    assert not any(t in ("None", "nan") for t in row0)
    assert row0[1:5] == ["", "", "", ""]
    assert row0[5] == "confirmed"
    assert row0[-1] == ""  # mask quality unknown (imported or seeded masks)
    assert row1[1:5] == ["12.35", "15.4", "1", "0.88"]


def test_a_doubtful_automatic_mask_asks_for_a_check(qtbot) -> None:
    table = FindingsTable()
    qtbot.addWidget(table)
    doubtful = Finding(Bone.NAVICULAR, 8.0, 1.0, 0.125, 1, 0.7, 2.0, 0.3,
                       bone_mask_quality=0.31)
    good = Finding(Bone.TALUS, 30.0, 0.0, 0.0, 0, 1.0, 1.0, 0.9, bone_mask_quality=0.82)
    imported = Finding(Bone.CUBOID, 12.0, 0.0, 0.0, 0, 1.0, 1.0, 0.9)
    assert doubtful.mask_needs_check and not good.mask_needs_check
    assert not imported.mask_needs_check
    table.setRowCount(3)
    for row, f in enumerate((doubtful, good, imported)):
        table.fill_row(row, f)
    mask = [table.item(r, table.columnCount() - 1).text() for r in range(3)]
    assert mask == ["check 0.31", "0.82", ""]
