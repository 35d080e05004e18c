"""A Gradio photo-upload input whose files reach :func:`mcld.image_utils.load_image` untouched.

``gr.Image(type="filepath")`` opens every upload with PIL and, with its default
``image_mode="RGB"``, re-encodes CMYK, 16-bit, palette and transparent images
before the handler sees them (16-bit PNGs come out blank white). A file PIL
cannot open (empty, text, damaged) fails inside that preprocessing, so the
visitor only sees Gradio's generic "has raised an exception" text.

:class:`PhotoInput` keeps the ``gr.Image`` front end and API, passes the
uploaded file's path on as is (``image_mode=None``), and turns a failed
preprocessing into ``gr.Error`` carrying :func:`~mcld.image_utils.load_image`'s
``user_message`` ("The uploaded file is empty.", ...).

Gradio is imported by this module; the rest of :mod:`mcld` does not need it.
"""

from __future__ import annotations

import inspect

import gradio as gr

from .errors import MCLDError
from .image_utils import load_image

__all__ = ["PhotoInput"]


class PhotoInput(gr.Image):
    """``gr.Image(type="filepath", image_mode=None)`` with visitor-readable upload errors.

    Args:
        **kwargs: As ``gr.Image``; ``type`` is always ``"filepath"`` and
            ``image_mode`` defaults to ``None`` (the file is not re-encoded).

    Raises:
        gr.Error: (in :meth:`preprocess`) the upload is not a usable image; the
            message is :class:`~mcld.errors.InputImageError`'s ``user_message``.
    """

    #: Makes Gradio use ``gr.Image``'s front end (``Block.get_block_name``).
    is_template = True

    def __init__(self, value=None, **kwargs):
        kwargs["type"] = "filepath"
        kwargs.setdefault("image_mode", None)
        super().__init__(value, **kwargs)

    # Gradio builds the front-end config from the ``__init__`` signature's
    # parameter names; without gr.Image's signature every prop (label,
    # elem_id, buttons, height, ...) is dropped and the page fails to render.
    __init__.__signature__ = inspect.signature(gr.Image.__init__)

    def preprocess(self, payload):
        """The uploaded file's path, or ``gr.Error`` with a clear message."""
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception as err:  # PIL raises many types for unreadable files
            path = getattr(payload, "path", None)
            try:
                load_image(path)
            except MCLDError as mcld_err:
                raise gr.Error(mcld_err.user_message, print_exception=False) from None
            raise gr.Error("This file could not be read as an image (use a JPEG, PNG or WebP photo).", print_exception=False) from err
