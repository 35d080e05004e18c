"""Finding and choosing the people of a photo for a demo: overlays, notes,
clicks (CPU only; MediaPipe through a :class:`~mcld.pose_transfer.PoseTransfer`
locator, whose per-file cache also serves Generate).

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

import numpy as np

from .status import people_note
from .errors import DemoInputError

__all__ = ["click_position", "detect_photo", "person_index", "pick_in_photo", "source_crop"]


def person_index(value) -> int | None:
    """A person-index field -> ``person_index`` (``-1``/empty: ``None``, the largest)."""
    return None if value is None or int(value) < 0 else int(value)


def _overlay(photo, people, index: int) -> np.ndarray:
    from ..annotators.mediapipe_pose import draw_pose_overlay

    return draw_pose_overlay(photo, people, selected=index if len(people) > 1 else None)


def detect_photo(locator, path, what: str):
    """Find the people of a photo, draw them, choose the largest.

    Args:
        locator: A :class:`~mcld.pose_transfer.PoseTransfer` (models optional).
        path: The photo's path, or ``None`` (cleared).
        what: ``"source"`` or ``"target"`` (named in the note and errors).

    Returns:
        ``(overlay, person_index, note)``: ``(H, W, 3)`` uint8 RGB photo with
        every skeleton and box drawn (``None`` without a photo), the chosen
        index (``-1`` without a photo) and a Markdown note.

    Raises:
        mcld.errors.InputImageError, mcld.errors.NoPersonError: unusable file, nobody found.
    """
    if not path:
        return None, -1, ""
    person = locator.locate_person(path, what=what)
    index = person.person_index
    return _overlay(person.photo, person.people, index), index, people_note(person.people, index, what)


def pick_in_photo(locator, path, x, y, what: str):
    """Choose the person at ``(x, y)`` photo pixels (its box holds the point,
    else the nearest one); returns as :func:`detect_photo`.

    Raises:
        DemoInputError: no photo, or no coordinates (the image was still loading).
        mcld.errors.InputImageError, mcld.errors.NoPersonError: unusable file, nobody found.
    """
    from ..annotators.mediapipe_pose import pick_person

    if not path:
        raise DemoInputError(f"Upload a {what} photo first.")
    if x is None or y is None:
        raise DemoInputError("The photo was still loading: click the person again.")
    photo, people = locator.detect_people(path)
    index = pick_person(people, float(x), float(y))
    return _overlay(photo, people, index), index, people_note(people, index, what)


def click_position(index) -> tuple[float | None, float | None]:
    """A click's ``gr.SelectData.index`` on an overlay -> ``(x, y)`` photo
    pixels; a click on an image still loading has none: ``(None, None)``."""
    if not isinstance(index, (list, tuple)) or len(index) != 2 or any(v is None for v in index):
        return None, None
    return float(index[0]), float(index[1])


def source_crop(locator, path, person):
    """The source person located and cropped, no DensePose (what "Align to
    source" aligns to; an index the photo lacks: the largest), or ``None``
    without a photo."""
    if not path:
        return None
    photo, people = locator.detect_people(path)
    index = person_index(person)
    return locator.locate_person(photo, index if index is not None and index < len(people) else None, people=people)
