"""``python -m gen4gen`` runs the command line."""

import sys

from gen4gen.cli import main

if __name__ == "__main__":
    sys.exit(main())
