"""`python -m dualgrad ...` runs the `dualgrad` command."""

import sys

from .cli.main import main

sys.exit(main())
