"""DICOM input and output: folder index, sequence classification, series loading, writing.

Public names are re-exported here; implementations live in private modules:
``_index`` (walk folders, group into patients / studies / series stacks),
``_sequence`` (T1 / STIR / T2-FS / PD-FS classification, plane, T1-fluid pairing),
``_load`` (stacks to :class:`~bmes_imaging.volume.Volume`), ``_write`` (Volume to a
DICOM MR series, used by the phantom and the tests).
"""

from ._index import FolderIndex, RejectedFile, SeriesStack, index_files, index_folder
from ._load import load_series
from ._sequence import SeriesPair, classify_stack, pair_series
from ._write import write_series

__all__ = [
    "FolderIndex",
    "RejectedFile",
    "SeriesPair",
    "SeriesStack",
    "classify_stack",
    "index_files",
    "index_folder",
    "load_series",
    "pair_series",
    "write_series",
]
