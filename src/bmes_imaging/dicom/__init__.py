"""DICOM input and output: folder index, sequence classification, series loading, writing."""
