"""COCO-18 (OpenPose) body keypoints and the :class:`PersonPose` result.

Keypoints follow the controlnet_aux / OpenPose convention: ``(x, y)``
normalised to ``[0, 1]`` by the image ``(W, H)`` (they may fall slightly
outside when a joint is off-image), in the 18-point OpenPose body order
(:data:`COCO18_NAMES`). Pixel coordinates are ``normalised * (W, H)``,
continuous, pixel ``i`` centred at ``i + 0.5`` (see :mod:`mcld.person_crop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = [
    "COCO18_NAMES",
    "BLAZEPOSE_TO_COCO18",
    "COCO18_FLIP_PAIRS",
    "VISIBILITY_THRESHOLD",
    "PersonPose",
    "blazepose_to_coco18",
    "to_pixels",
]

#: OpenPose / COCO-18 body keypoint order.
COCO18_NAMES: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)

#: BlazePose (33-landmark) index for each COCO-18 keypoint; ``-1`` for the
#: neck, which is the midpoint of the two shoulders (11, 12).
BLAZEPOSE_TO_COCO18: tuple[int, ...] = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)

#: COCO-18 index pairs that swap under a left/right mirror.
COCO18_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))

#: Visibility at or above which a keypoint is drawn and used.
VISIBILITY_THRESHOLD = 0.5


@dataclass
class PersonPose:
    """One person's body pose in one image.

    Attributes:
        keypoints: ``(18, 2)`` float32 ``(x, y)`` normalised to ``[0, 1]`` by
            ``image_size``, COCO-18 / OpenPose order (:data:`COCO18_NAMES`).
        visibility: ``(18,)`` float32 in ``[0, 1]``: MediaPipe's landmark
            visibility (the neck takes the smaller of the two shoulders').
        box: ``(4,)`` float32 person box ``(x0, y0, x1, y1)`` in pixels (XYXY).
        score: Detection confidence in ``[0, 1]`` (mean visibility of the 12
            limb keypoints shoulders..ankles).
        image_size: ``(width, height)`` of the image the pose refers to, pixels.
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    box: np.ndarray
    score: float
    image_size: tuple[int, int]
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def keypoints_px(self) -> np.ndarray:
        """``(18, 2)`` float32 keypoints in pixels."""
        return to_pixels(self.keypoints, self.image_size)

    @property
    def visible(self) -> np.ndarray:
        """``(18,)`` bool: visibility >= :data:`VISIBILITY_THRESHOLD` and the
        point lies inside the image."""
        inside = np.all((self.keypoints >= 0.0) & (self.keypoints <= 1.0), axis=1)
        return (self.visibility >= VISIBILITY_THRESHOLD) & inside

    def copy(self, **changes) -> "PersonPose":
        """A deep copy with the given fields replaced."""
        base = replace(
            self,
            keypoints=self.keypoints.copy(),
            visibility=self.visibility.copy(),
            box=self.box.copy(),
            extra=dict(self.extra),
        )
        return replace(base, **changes) if changes else base


def to_pixels(keypoints: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Normalised ``(..., 2)`` keypoints -> float32 pixels for ``image_size``
    ``(width, height)``."""
    return (np.asarray(keypoints, dtype=np.float32) * np.asarray(image_size, dtype=np.float32)).astype(np.float32)


def blazepose_to_coco18(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert 33 BlazePose landmarks to COCO-18 order.

    Args:
        landmarks: ``(33, 3)`` float array ``(x, y, visibility)``; ``x, y`` in
            any frame (normalised or pixels).

    Returns:
        ``(keypoints (18, 2) float32, visibility (18,) float32)``; the neck is
        the shoulder midpoint with the smaller shoulder visibility.

    Raises:
        ValueError: ``landmarks`` is not ``(33, 3)``.

    Source:
        BlazePose landmark indices from MediaPipe's ``PoseLandmark`` enum;
        OpenPose body order from controlnet_aux ``open_pose``.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.shape != (33, 3):
        raise ValueError(f"landmarks must be (33, 3), got {lm.shape}")
    idx = np.array(BLAZEPOSE_TO_COCO18)
    kps = lm[np.maximum(idx, 0), :2].copy()
    vis = lm[np.maximum(idx, 0), 2].copy()
    kps[1] = (lm[11, :2] + lm[12, :2]) / 2.0
    vis[1] = min(lm[11, 2], lm[12, 2])
    return kps, vis
