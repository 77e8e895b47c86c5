"""The `dualgrad` command: `main` parses and dispatches (`main.py`); each command that outgrew it has
its module (`train.py`: train and predict; `verify_impl.py`: verify --impl); `common.py` holds what
they share (the one-line error, exit 2). On top of everything else: nothing imports it."""

from .main import main as main
