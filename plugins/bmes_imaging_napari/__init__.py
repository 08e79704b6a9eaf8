"""napari plugin for reviewing bone marrow edema candidates (bmes-imaging)."""
from bmes_imaging import __version__

__all__ = ["__version__"]
