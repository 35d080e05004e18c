"""``python -m mcld``: see :mod:`mcld.cli`."""

from .cli import main

raise SystemExit(main())
