"""``python -m bmes_imaging`` runs the ``bmes`` command line."""
import sys

from .cli import main

sys.exit(main())
