"""The demo's own input errors (a missing upload, an empty setting, models
that did not load), as :class:`mcld.errors.MCLDError` so that
:func:`mcld.demo.readable` shows them like every other input error.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

from ..errors import MCLDError

__all__ = ["DemoInputError"]


class DemoInputError(MCLDError, ValueError):
    """A request the demo cannot run as asked; ``user_message`` names the field
    or the missing upload (e.g. ``"Seed is empty: enter a number in Advanced."``)."""
