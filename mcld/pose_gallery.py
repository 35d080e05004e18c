"""Former home of the pose gallery, kept so that existing imports work
(``app.py``, ``examples/make_poses.py``): everything now lives in
:mod:`mcld.gallery`, which this module re-exports.

Source:
    Our own.
"""

from __future__ import annotations

from .gallery import *  # noqa: F401,F403
from .gallery import __all__  # noqa: F401
