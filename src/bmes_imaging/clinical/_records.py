"""The clinical record of one foot and the columns of the clinical tables.

Two layouts are read (CSV or XLSX, first worksheet, header in row 1, one row per
patient or per foot):

**Table 1 layout** (the study's Table 1, ``sample_data/table1_clinical.csv``)::

    patient,age,sex,side,primary_bone,symptom_months,complaint_to_visit_months,
    vitd_ng_ml,aofas_initial,aofas_final,rheumatoid_arthritis

**Template with labs** (``sample_data/clinical_template.csv``, write a fresh copy with
``bmes clinical template OUT.csv``). Columns (``*`` = required):

==========================  ===============================================================
column                      content
==========================  ===============================================================
patient *                   pseudonymous key (``"7"``); never a name or hospital number
age *                       years at diagnosis, whole number 0-120
sex *                       ``M`` / ``F`` (also ``male``/``female``, ``erkek``/``kadın``)
side *                      ``L``, ``R`` or ``R+L`` (bilateral: one record per foot);
                            also ``left``/``right``/``both``/``bilateral``
primary_bone *              bone(s) with the main edema, names of
                            :mod:`bmes_imaging.bones`, several joined with ``+``
                            (``talus+navicular``)
other_bones                 further affected bones, same syntax
symptom_months              symptom duration in months (0-600)
complaint_to_visit_months   months from complaint to first visit (0-600, at most the
                            symptom duration)
vitamin_d                   serum 25(OH)D; unit from ``vitamin_d_unit``
vitamin_d_unit              ``ng/mL`` or ``nmol/L`` (converted to ng/mL: 1 ng/mL =
                            2.496 nmol/L; the unit found is kept in the record)
vitd_ng_ml / vitd_nmol_l    alternatives to ``vitamin_d`` with the unit in the name
esr_mm_h                    erythrocyte sedimentation rate, mm/h (0-200)
crp_mg_l                    C-reactive protein, mg/L (0-500)
rf                          rheumatoid factor, IU/mL (0-10000)
anti_ccp                    anti-CCP antibodies, U/mL (0-10000)
hemoglobin_g_dl             hemogram: hemoglobin, g/dL (2-25)
leukocytes_10e9_l           hemogram: leukocytes, 10^9/L (0-200)
aofas_initial               AOFAS ankle-hindfoot score at diagnosis (0-100)
aofas_final                 AOFAS ankle-hindfoot score at last control (0-100)
follow_up_months            months from diagnosis to last control (0-600)
rheumatoid_arthritis        ``yes`` / ``no`` (also ``true``/``false``, ``1``/``0``,
                            ``evet``/``hayır``)
==========================  ===============================================================

Empty cells are missing values (optional fields become ``None``). Numbers may use a
decimal comma (``14,4``). A 25(OH)D cell may carry its unit (``35 nmol/L``) if it
agrees with the column. Column names are case-insensitive; unknown columns are
rejected (a typo would otherwise drop data silently). The file must be UTF-8 (Excel:
"CSV UTF-8"); ``,``, ``;`` or tab separated.

A patient may appear on several rows with different sides (one row per foot); the
patient's age, sex and rheumatoid arthritis must then agree. The same patient and
side twice is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bones import Bone
from ._classes import aofas_change, vitamin_d_class

__all__ = [
    "KNOWN_COLUMNS",
    "REQUIRED_COLUMNS",
    "TABLE1_COLUMNS",
    "TEMPLATE_COLUMNS",
    "ClinicalRecord",
]

#: Columns of the study's Table 1 (``table1_clinical.csv``), in order.
TABLE1_COLUMNS: tuple[str, ...] = (
    "patient", "age", "sex", "side", "primary_bone", "symptom_months",
    "complaint_to_visit_months", "vitd_ng_ml", "aofas_initial", "aofas_final",
    "rheumatoid_arthritis",
)

#: Columns of the documented template with labs, in order.
TEMPLATE_COLUMNS: tuple[str, ...] = (
    "patient", "age", "sex", "side", "primary_bone", "other_bones", "symptom_months",
    "complaint_to_visit_months", "vitamin_d", "vitamin_d_unit", "esr_mm_h", "crp_mg_l",
    "rf", "anti_ccp", "hemoglobin_g_dl", "leukocytes_10e9_l", "aofas_initial",
    "aofas_final", "follow_up_months", "rheumatoid_arthritis",
)

#: Columns every clinical table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("patient", "age", "sex", "side", "primary_bone")

#: Every column name the reader understands.
KNOWN_COLUMNS: frozenset[str] = frozenset(
    TABLE1_COLUMNS + TEMPLATE_COLUMNS + ("vitd_nmol_l",)
)


@dataclass(frozen=True)
class ClinicalRecord:
    """The clinical record of one foot of one patient (validated).

    Attributes
    ----------
    patient
        Pseudonymous patient key (e.g. ``"7"``); the phantom's and archive's PatientID
        or a mapping table links it to DICOM studies.
    age
        Years at diagnosis.
    sex
        ``"M"`` or ``"F"``.
    side
        ``"L"`` or ``"R"`` (a bilateral patient has two records).
    primary_bones, other_bones
        Affected bones (:class:`~bmes_imaging.bones.Bone`).
    symptom_months, complaint_to_visit_months
        Symptom duration and time from complaint to first visit, months.
    vitamin_d_ng_ml
        Serum 25(OH)D in ng/mL (converted if the file gave nmol/L).
    vitamin_d_unit
        Unit the file gave 25(OH)D in (``"ng/mL"`` or ``"nmol/L"``), ``None`` if absent.
    esr_mm_h, crp_mg_l, rf, anti_ccp, hemoglobin_g_dl, leukocytes_10e9_l
        Labs (ESR mm/h, CRP mg/L, RF IU/mL, anti-CCP U/mL, hemogram).
    aofas_initial, aofas_final
        AOFAS ankle-hindfoot score at diagnosis and at last control.
    follow_up_months
        Months from diagnosis to last control.
    rheumatoid_arthritis
        Known rheumatoid arthritis.
    source_row
        1-based row of the source file (header = row 1), for messages.
    """

    patient: str
    age: int
    sex: str
    side: str
    primary_bones: tuple[Bone, ...]
    other_bones: tuple[Bone, ...] = ()
    symptom_months: float | None = None
    complaint_to_visit_months: float | None = None
    vitamin_d_ng_ml: float | None = None
    vitamin_d_unit: str | None = None
    esr_mm_h: float | None = None
    crp_mg_l: float | None = None
    rf: float | None = None
    anti_ccp: float | None = None
    hemoglobin_g_dl: float | None = None
    leukocytes_10e9_l: float | None = None
    aofas_initial: float | None = None
    aofas_final: float | None = None
    follow_up_months: float | None = None
    rheumatoid_arthritis: bool | None = None
    source_row: int | None = None

    @property
    def vitamin_d_class(self) -> str | None:
        """``"deficient"``, ``"insufficient"``, ``"sufficient"`` or ``None`` (no value)."""
        if self.vitamin_d_ng_ml is None:
            return None
        return vitamin_d_class(self.vitamin_d_ng_ml)

    @property
    def aofas_change(self) -> float | None:
        """AOFAS at last control minus AOFAS at diagnosis (``None`` if either missing)."""
        return aofas_change(self.aofas_initial, self.aofas_final)

    @property
    def bones(self) -> tuple[Bone, ...]:
        """Primary then other affected bones, without repeats."""
        return tuple(dict.fromkeys(self.primary_bones + self.other_bones))

    @property
    def foot(self) -> tuple[str, str]:
        """``(patient, side)``: the key of this record."""
        return (self.patient, self.side)

    def __repr__(self) -> str:  # keep the patient key out of casual reprs in logs
        return (f"ClinicalRecord(side={self.side!r}, age={self.age}, sex={self.sex!r}, "
                f"primary_bones={[b.bone_name for b in self.primary_bones]}, "
                f"source_row={self.source_row})")
