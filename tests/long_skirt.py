"""The long-skirt test photo of issue 14 (a photo whose legs MediaPipe misses),
shared by ``tests/test_whole_person.py`` and ``tests/app/test_browser_crops.py``.

Built from ``shared/images/test.jpg`` (a standing woman in a knee-length
dress, feet in frame): a flat polygon in one colour is painted from above the
hips down to below the ankles (the floor), covering legs and feet, so that
MediaPipe no longer sees the lower legs. Every measure is taken from
MediaPipe's detection on the original photo.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["SKIRT_RGB", "paint_long_skirt", "skirt_rows"]

#: The skirt's one colour (RGB, uint8).
SKIRT_RGB = (120, 20, 40)


def paint_long_skirt(photo: np.ndarray, person) -> tuple[np.ndarray, float]:
    """Paint a flat long skirt from the waist to the floor over ``person``.

    Args:
        photo: ``(H, W, 3)`` uint8 RGB photo.
        person: MediaPipe's detection of the photo's person
            (``mcld.annotators.mediapipe_pose`` person with ``keypoints_px``,
            ``(18, 2)`` float OpenPose keypoints in photo pixels ``(x, y)``).

    Returns:
        ``(painted, floor)``: the ``(H, W, 3)`` uint8 RGB photo with the skirt
        (a copy; ``photo`` is unchanged) and the hem's row in photo pixels
        (``0.06 * H`` below the lower ankle, over the shoes).

    Raises:
        ValueError: ``photo`` is not an ``(H, W, 3)`` uint8 array.

    Source:
        Our own (issue 14: "build the case from a shared photo, e.g. by
        painting a flat long skirt over the legs").
    """
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be an (H, W, 3) uint8 array, got {photo.shape} {photo.dtype}")
    k = person.keypoints_px
    h = photo.shape[0]
    hips_y = float(min(k[8, 1], k[11, 1]))
    hx0, hx1 = float(min(k[8, 0], k[11, 0])), float(max(k[8, 0], k[11, 0]))
    hw = hx1 - hx0
    floor = float(max(k[10, 1], k[13, 1])) + 0.06 * h  # below the ankles: over the shoes
    waist = hips_y - 0.08 * h
    polygon = np.array(
        [[hx0 - 0.6 * hw, waist], [hx1 + 0.6 * hw, waist], [hx1 + 1.8 * hw, floor], [hx0 - 2.0 * hw, floor]], np.int32
    )
    painted = photo.copy()
    cv2.fillPoly(painted, [polygon], SKIRT_RGB)
    return painted, floor


def skirt_rows(image: np.ndarray, tolerance: int = 30, min_pixels: int = 20) -> np.ndarray:
    """Rows of ``image`` that show the painted skirt.

    Args:
        image: ``(H, W, 3)`` RGB array (uint8 or float in 0..255).
        tolerance: Largest summed absolute RGB difference from
            :data:`SKIRT_RGB` of a skirt pixel (0..765).
        min_pixels: Skirt pixels a row needs to count (skeleton lines and
            stray pixels of that colour do not make a row).

    Returns:
        ``(N,)`` int64 row indices, ascending (empty when no row shows it).

    Raises:
        ValueError: ``image`` is not an ``(H, W, 3)`` array.

    Source:
        Our own.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) array, got {image.shape}")
    close = np.abs(image.astype(np.int64) - np.array(SKIRT_RGB)).sum(axis=2) < tolerance
    return np.nonzero(close.sum(axis=1) > min_pixels)[0]
