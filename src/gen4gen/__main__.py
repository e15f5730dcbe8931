"""``python -m gen4gen`` runs the command line."""

import sys

from gen4gen.cli import main

sys.exit(main())
