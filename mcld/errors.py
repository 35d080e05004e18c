"""Documented exceptions raised by :mod:`mcld`.

Every error a visitor can cause derives from :class:`MCLDError` and carries a
``user_message``: one sentence, in plain words, that the app shows as is
(``gr.Error(err.user_message)``). The exception text (``str(err)``) may add
technical detail for logs.

Classes also derive from the matching builtin (``ValueError``,
``FileNotFoundError``, ``RuntimeError``) so that callers that only know the
builtins still catch them.
"""

from __future__ import annotations

__all__ = [
    "MCLDError",
    "InputImageError",
    "NoPersonError",
    "NoFaceWarning",
    "FaceEmbeddingError",
    "WeightsNotFoundError",
    "CheckpointError",
    "NaNOutputError",
    "OutOfMemoryError",
]


class MCLDError(Exception):
    """Base class of all errors :mod:`mcld` raises on purpose.

    Args:
        user_message: One sentence for a visitor of the demo (no stack trace,
            no tensor shapes).
        detail: Optional technical detail appended to ``str(err)``.
    """

    def __init__(self, user_message: str, detail: str | None = None):
        self.user_message = user_message
        self.detail = detail
        super().__init__(user_message if not detail else f"{user_message} ({detail})")


class InputImageError(MCLDError, ValueError):
    """An uploaded file is not a usable image: empty, corrupt, truncated, not an
    image at all, too small, or too large."""


class NoPersonError(MCLDError, ValueError):
    """No person (or not enough of one) was found in an image."""


class NoFaceWarning(UserWarning):
    """No face was found, or the face-analysis models are missing; a zero face
    embedding is used instead (as upstream MCLD does)."""


class FaceEmbeddingError(MCLDError, ValueError):
    """A saved face embedding (``.npy``) cannot be used: unreadable, not a
    ``.npy`` array, pickled objects, or not 512 numbers. (An embedding holding
    NaN or inf is not an error: it is replaced by zeros with a
    :class:`NoFaceWarning`, as a missing face is.)"""


class WeightsNotFoundError(MCLDError, FileNotFoundError):
    """A required weight file is neither on local disk nor downloadable."""


class CheckpointError(MCLDError, ValueError):
    """A weight file exists but is unusable: truncated, unreadable, wrong keys or
    wrong shapes."""


class NaNOutputError(MCLDError, RuntimeError):
    """The sampler produced non-finite latents (NaN or inf)."""


class OutOfMemoryError(MCLDError, RuntimeError):
    """The accelerator ran out of memory during generation."""
