"""`python -m dualgrad.bugs`: every family of the bug catalog, hunted and shrunk."""

from . import main

raise SystemExit(main())
