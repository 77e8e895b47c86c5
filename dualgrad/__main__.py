"""`python -m dualgrad ...` runs the `dualgrad` command."""

import sys

from .cli import main

sys.exit(main())
