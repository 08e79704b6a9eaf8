"""De-identification of DICOM datasets (PS3.15 Basic Application Level Confidentiality
Profile, with the Retain Patient Characteristics Option: sex, age, size and weight kept).

Identifiers are replaced by stable keyed-hash pseudonyms (:class:`Pseudonymizer`), UIDs by
derived ``2.25`` UIDs, consistently across every dataset handled with the same key, so
a de-identified SEG still references its de-identified source images.
"""

from __future__ import annotations

from typing import Any

from ._pseudonym import Pseudonymizer

__all__ = ["deidentify_dataset"]

# Attributes emptied (Z) or removed (X) by the basic profile, by keyword (the subset a
# clinical MR object carries; private tags are removed as a whole).
_EMPTY = (
    "PatientBirthDate", "ReferringPhysicianName", "AccessionNumber", "StudyID", "StudyDate",
    "StudyTime", "ContentCreatorName",
)
_REMOVE = (
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress",
    "PatientBirthName", "PatientMotherBirthName", "PatientTelephoneNumbers",
    "MedicalRecordLocator", "MilitaryRank", "BranchOfService", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "PatientBirthTime", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "OperatorsName",
    "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
    "RequestingPhysician", "StudyDescription", "RequestAttributesSequence",
    "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime",
    "InstanceCreationDate", "InstanceCreationTime",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedProcedureStepID", "ScheduledProcedureStepID", "ReferencedPatientSequence",
    "ReferencedStudySequence", "IssuerOfPatientID", "PatientInsurancePlanCodeSequence",
)
# Replaced by a dummy value (D) where present: Type 1 in some objects (e.g. SEG).
_DUMMY = {"ContentDate": "19000101", "ContentTime": "000000", "DeviceSerialNumber": "0"}
_UID_KEEP = ("SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID",
             "ImplementationClassUID", "MediaStorageSOPClassUID", "CodingSchemeUID",
             "ContextGroupExtensionCreatorUID", "MappingResourceUID", "ContextUID",
             "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID")

#: DeidentificationMethod (LO: at most 64 characters); the codes say it in full.
METHOD = "PS3.15 basic profile, retain patient chars, keyed pseudonyms"


def _walk(ds: Any, pseudo: Pseudonymizer, map_uids: bool) -> None:
    ds.remove_private_tags()
    for elem in list(ds):
        kw = elem.keyword
        if elem.VR == "SQ":
            for item in elem.value:
                _walk(item, pseudo, map_uids)
        elif map_uids and elem.VR == "UI" and kw not in _UID_KEEP and elem.value:
            if isinstance(elem.value, (list, tuple)) or elem.VM > 1:
                elem.value = [pseudo.uid(str(v)) for v in elem.value]
            else:
                elem.value = pseudo.uid(str(elem.value))
    for kw in _REMOVE:
        if kw in ds:
            delattr(ds, kw)
    for kw in _EMPTY:
        if kw in ds:
            ds[kw].value = None
    for kw, dummy in _DUMMY.items():
        if kw in ds:
            setattr(ds, kw, dummy)


def deidentify_dataset(ds: Any, pseudo: Pseudonymizer, *, patient_id: str | None = None,
                       content_creator: str | None = None, map_uids: bool = True) -> Any:
    """De-identify a pydicom Dataset in place and return it.

    Parameters
    ----------
    ds
        The dataset (image or SEG).
    pseudo
        Pseudonymizer holding the secret key.
    patient_id
        The patient identifier to pseudonymise (default: the dataset's PatientID).
    content_creator
        Pseudonymise this reader name into ContentCreatorName (basic profile empties it).
    map_uids
        Replace UIDs (False for an object built from already de-identified sources).

    Returns
    -------
    pydicom.Dataset
        ``ds`` with PatientName / PatientID replaced by the patient's pseudonym,
        identifying attributes emptied or removed, UIDs replaced consistently, private
        tags removed, and PatientIdentityRemoved / DeidentificationMethod(CodeSequence)
        set.
    """
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    pid = patient_id if patient_id is not None else str(ds.get("PatientID", "") or "")
    alias = pseudo.patient(pid) if pid else "ANONYMOUS"
    _walk(ds, pseudo, map_uids)
    ds.PatientName = alias + "^"  # the pseudonym as family name component
    ds.PatientID = alias
    if content_creator:
        ds.ContentCreatorName = "R-" + pseudo.patient("reader:" + content_creator)[2:] + "^"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    items = []
    for code in (codes.DCM.BasicApplicationConfidentialityProfile,
                 codes.DCM.RetainPatientCharacteristicsOption):
        item = Dataset()
        item.CodeValue = code.value
        item.CodingSchemeDesignator = code.scheme_designator
        item.CodeMeaning = code.meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds
