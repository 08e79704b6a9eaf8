"""DICOM input and output: folder index, sequence classification, series loading, writing.

Public names are re-exported here; implementations live in private modules:
``_index`` (walk folders, group into patients / studies / series stacks),
``_sequence`` (T1 / STIR / T2-FS / PD-FS classification, plane, T1-fluid pairing),
``_load`` (stacks to :class:`~bmes_imaging.volume.Volume`), ``_write`` (Volume to a
DICOM MR series, used by the phantom and the tests), ``_seg`` (a DICOM SEG, made here
or elsewhere, back to label maps).
"""

from ._index import FolderIndex, RejectedFile, SeriesStack, index_files, index_folder
from ._load import load_series
from ._seg import SegLabels, SegSegment, is_seg_file, read_seg
from ._sequence import SeriesPair, classify_stack, pair_series
from ._write import write_series

__all__ = [
    "FolderIndex",
    "RejectedFile",
    "SegLabels",
    "SegSegment",
    "SeriesPair",
    "SeriesStack",
    "classify_stack",
    "index_files",
    "index_folder",
    "is_seg_file",
    "load_series",
    "pair_series",
    "read_seg",
    "write_series",
]
