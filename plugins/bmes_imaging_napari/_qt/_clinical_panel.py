"""Clinical panel: the linked patient's record beside the images, editable.

The record comes from the store (``Store.clinical_record(patient, side)``), linked by the
study's PatientID and side. 25(OH)D is shown with its class (deficient / insufficient /
sufficient) highlighted in colour. Edits go through the same validation as the table
import (:func:`bmes_imaging.clinical.parse_record_fields`) and are saved with
``Store.update_clinical``; invalid fields are outlined and their messages listed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bmes_imaging.errors import BmesError

from .._layers import META_KEY
from .._store_access import LazyStore

if TYPE_CHECKING:
    import napari

__all__ = ["FIELDS", "VITAMIN_D_COLOURS", "ClinicalPanel", "record_to_cells"]

#: (template column, label shown, ClinicalRecord attribute)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("age", "Age (years)", "age"),
    ("sex", "Sex", "sex"),
    ("side", "Side", "side"),
    ("primary_bone", "Primary bone(s)", "primary_bones"),
    ("other_bones", "Other bones", "other_bones"),
    ("symptom_months", "Symptom duration (months)", "symptom_months"),
    ("complaint_to_visit_months", "Complaint to visit (months)", "complaint_to_visit_months"),
    ("vitamin_d", "25(OH)D (ng/mL)", "vitamin_d_ng_ml"),
    ("esr_mm_h", "ESR (mm/h)", "esr_mm_h"),
    ("crp_mg_l", "CRP (mg/L)", "crp_mg_l"),
    ("rf", "RF (IU/mL)", "rf"),
    ("anti_ccp", "Anti-CCP (U/mL)", "anti_ccp"),
    ("aofas_initial", "AOFAS at diagnosis", "aofas_initial"),
    ("aofas_final", "AOFAS at last control", "aofas_final"),
)
#: Background colours of the 25(OH)D class label.
VITAMIN_D_COLOURS: dict[str, str] = {
    "deficient": "#c0392b", "insufficient": "#e67e22", "sufficient": "#27ae60",
}
NO_RECORD = "No clinical record linked"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "+".join(getattr(b, "bone_name", str(b)) for b in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def record_to_cells(record: Any) -> dict[str, Any]:
    """Template cells of a :class:`~bmes_imaging.clinical.ClinicalRecord` (every field
    the validator reads, including those the panel does not show)."""
    cells = {column: _text(getattr(record, attr)) for column, _, attr in FIELDS}
    cells["patient"] = record.patient
    cells["vitamin_d_unit"] = "ng/mL" if record.vitamin_d_ng_ml is not None else ""
    for extra in ("hemoglobin_g_dl", "leukocytes_10e9_l", "follow_up_months",
                  "rheumatoid_arthritis"):
        if hasattr(record, extra):
            cells[extra] = _text(getattr(record, extra))
    return {k: (v if v != "" else None) for k, v in cells.items()}


class ClinicalPanel(QWidget):
    """The clinical record of the open study's patient and foot.

    Parameters
    ----------
    napari_viewer
        The viewer; the panel follows the study its layers show.
    store
        A store, or None to open the default one (``$BMES_DB``) on first use.
    """

    #: The store (opened on first use; assign to replace it).
    store = LazyStore()

    def __init__(self, napari_viewer: napari.viewer.Viewer | None = None, *,
                 store: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer if napari_viewer is not None else None
        self._store = store
        self.patient: str | None = None
        #: Recorded as the actor of edits in the audit (the reader's name).
        self.actor = os.environ.get("BMES_READER", "")
        self.side: str | None = None
        self.record: Any = None
        self.errors: list[BmesError] = []
        layout = QVBoxLayout(self)
        self.title = QLabel(NO_RECORD)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.title)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        for column, label, _ in FIELDS:
            edit = QLineEdit()
            edit.setReadOnly(True)
            edit.setObjectName(column)
            self.edits[column] = edit
            form.addRow(label, edit)
        self.edits["side"].setToolTip("The side is part of the record's key")
        self.vitamin_d_class = QLabel("")
        self.vitamin_d_class.setObjectName("vitamin_d_class")
        form.addRow("25(OH)D class", self.vitamin_d_class)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.edit_button = QPushButton("Edit")
        self.edit_button.setCheckable(True)
        self.edit_button.toggled.connect(self.set_editing)
        self.save_button = QPushButton("Save record")
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.edit_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._show(None)
        if self.viewer is not None:
            self.viewer.layers.events.inserted.connect(self._follow_layers)
            self.viewer.layers.events.removed.connect(self._follow_layers)
            self._follow_layers()

    def _follow_layers(self, event: Any = None) -> None:
        assert self.viewer is not None
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
            if meta and meta.get("role") == "t1" and meta.get("info") is not None \
                    and not meta.get("warm_up"):  # not the warm-up's empty layer
                info = meta["info"]
                if (info.patient_id, info.laterality) != (self.patient, self.side):
                    self.show_for(info.patient_id, info.laterality)
                return
        if self.patient is not None:
            self.show_for(None, None)

    def show_for(self, patient: str | None, side: str | None) -> None:
        """Show the record of ``patient`` (PatientID / clinical key) and ``side``."""
        self.patient, self.side = patient, side
        record = None
        if patient:
            try:
                record = self.store.clinical_record(patient, side=side)
            except BmesError as exc:
                self.message.setText(f"Cannot read the clinical record: {exc}")
        self._show(record)

    def _show(self, record: Any) -> None:
        self.record = record
        self.edit_button.setChecked(False)
        self.set_editing(False)
        linked = record is not None
        self.edit_button.setEnabled(linked)
        if not linked:
            self.title.setText(NO_RECORD + (" to this study" if self.patient else ""))
            self.title.setStyleSheet("font-weight: bold; color: #e67e22;")
            for edit in self.edits.values():
                edit.setText("")
            self._show_vitamin_d_class(None)
            return
        self.title.setText(f"Patient {record.patient}, "
                           f"{ {'L': 'left', 'R': 'right'}.get(record.side, record.side)} foot")
        self.title.setStyleSheet("font-weight: bold;")
        for column, _, attr in FIELDS:
            self.edits[column].setText(_text(getattr(record, attr)))
            self.edits[column].setStyleSheet("")
        self._show_vitamin_d_class(record.vitamin_d_class)
        self.message.setText("")

    def _show_vitamin_d_class(self, cls: str | None) -> None:
        self.vitamin_d_class.setText(cls or "")
        colour = VITAMIN_D_COLOURS.get(cls or "")
        self.vitamin_d_class.setStyleSheet(
            f"background-color: {colour}; color: white; padding: 2px 6px; "
            "border-radius: 3px;" if colour else "")

    def set_editing(self, editing: bool) -> None:
        """Make the fields editable (the side stays fixed: it is the record's key)."""
        for column, edit in self.edits.items():
            edit.setReadOnly(not editing or column == "side")
        self.save_button.setEnabled(bool(editing) and self.record is not None)

    def cells(self) -> dict[str, Any]:
        """The record's cells with the panel's edits applied."""
        assert self.record is not None
        cells = record_to_cells(self.record)
        for column, edit in self.edits.items():
            cells[column] = edit.text().strip() or None
        cells["vitamin_d_unit"] = "ng/mL" if cells.get("vitamin_d") else None
        return cells

    def changes(self) -> dict[str, Any]:
        """The edited fields (template column -> new text), as ``update_clinical`` takes."""
        assert self.record is not None
        before = record_to_cells(self.record)
        after = self.cells()
        changed = {c: after[c] for c in after if c != "side" and after[c] != before.get(c)}
        if "vitamin_d" in changed:
            changed["vitamin_d_unit"] = after["vitamin_d_unit"]
        return changed

    def validate(self) -> Any:
        """Validate the edits like the import does; the record, or None (errors shown)."""
        from bmes_imaging.clinical import parse_record_fields

        errors: list[Any] = []
        records = parse_record_fields(self.cells(), source="clinical panel", errors=errors)
        for edit in self.edits.values():
            edit.setStyleSheet("")
        self.errors = errors
        if errors:
            for err in errors:
                column = getattr(err, "column", None)
                if column in ("vitamin_d_unit", "vitd_ng_ml", "vitd_nmol_l"):
                    column = "vitamin_d"
                if column in self.edits:
                    self.edits[column].setStyleSheet("border: 2px solid #c0392b;")
            self.message.setText("\n".join(str(e) for e in errors))
            self.message.setStyleSheet("color: #c0392b;")
            return None
        matching = [r for r in records if r.side == self.record.side] or records
        return matching[0]

    def save(self) -> bool:
        """Validate and save the edited record through the store; True on success."""
        if self.record is None:
            return False
        record = self.validate()
        if record is None:
            return False
        changes = self.changes()
        if not changes:
            self.message.setText("No changes")
            return True
        try:
            record = self.store.update_clinical(self.record.patient, self.record.side,
                                                actor=self.actor or None, **changes)
        except BmesError as exc:
            self.message.setText(f"Not saved: {exc}")
            self.message.setStyleSheet("color: #c0392b;")
            return False
        self._show(self.store.clinical_record(record.patient, side=record.side))
        self.message.setText("Saved")
        self.message.setStyleSheet("color: #27ae60;")
        return True
