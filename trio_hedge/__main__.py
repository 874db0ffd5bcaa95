"""``python -m trio_hedge``: see :mod:`trio_hedge.app.cli`."""

import sys

from .app.cli import main

sys.exit(main())
