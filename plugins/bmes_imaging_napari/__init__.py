"""napari plugin for reviewing bone marrow edema candidates (bmes-imaging)."""
__version__ = "0.1.0"
