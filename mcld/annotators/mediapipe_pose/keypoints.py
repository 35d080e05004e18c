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
    "FACE_KEYPOINTS",
    "BLAZEPOSE_FLIP_PAIRS",
    "NO_FACE_NOTE",
    "FEET_OUT_OF_FRAME_NOTE",
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

#: BlazePose (33-landmark) index pairs that swap under a left/right mirror
#: (MediaPipe ``PoseLandmark``: eyes, ear, mouth, shoulders ... foot index).
BLAZEPOSE_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
    (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
)  # fmt: skip

#: Visibility at or above which a keypoint is drawn and used.
VISIBILITY_THRESHOLD = 0.5

#: COCO-18 keypoints of the face: nose, eyes, ears. Their visibility is 0 for a
#: person without a found face (the face finder decides, not BlazePose).
FACE_KEYPOINTS: tuple[int, ...] = (0, 14, 15, 16, 17)

#: The one note, everywhere (detection, crop, face embedding, Edit), for a
#: person whose face the face finder does not find.
NO_FACE_NOTE = "No face found: identity not used."

#: Note for a person whose body runs out of the bottom of the photo.
FEET_OUT_OF_FRAME_NOTE = "Feet out of frame: the crop keeps the body as far down as the photo shows it."


@dataclass
class PersonPose:
    """One person's body pose in one image.

    Attributes:
        keypoints: ``(18, 2)`` float32 ``(x, y)`` normalised to ``[0, 1]`` by
            ``image_size``, COCO-18 / OpenPose order (:data:`COCO18_NAMES`).
        visibility: ``(18,)`` float32 in ``[0, 1]``: MediaPipe's landmark
            visibility (the neck takes the smaller of the two shoulders'); set
            to 0 by :func:`~.detect.detect_people` for keypoints outside the
            photo and for the face keypoints of a person without a found face,
            so they stay hidden in any later frame (e.g. a padded crop).
        box: ``(4,)`` float32 person box ``(x0, y0, x1, y1)`` in pixels (XYXY):
            from detection, the whole silhouette joined with the visible
            keypoints.
        score: Detection confidence in ``[0, 1]`` (mean visibility of the 12
            limb keypoints shoulders..ankles).
        image_size: ``(width, height)`` of the image the pose refers to, pixels.
        extra: Free-form extras (not used by :mod:`mcld`).
        face_box: ``(4,)`` float32 face box ``(x0, y0, x1, y1)`` in pixels of
            this frame, from the face finder (MediaPipe full-range face
            detection), or ``None``: no face found for this person (then the
            :data:`FACE_KEYPOINTS` have visibility 0 and ``notes`` holds
            :data:`NO_FACE_NOTE`).
        notes: Sentences for the user about this person in this photo
            (:data:`FEET_OUT_OF_FRAME_NOTE`, :data:`NO_FACE_NOTE`).
        blazepose: ``(33, 3)`` float32 BlazePose landmarks ``(x, y,
            visibility)``, ``x, y`` normalised like ``keypoints``; ``None``
            for poses that do not come from MediaPipe (e.g. the gallery).
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    box: np.ndarray
    score: float
    image_size: tuple[int, int]
    extra: dict = field(default_factory=dict, repr=False)
    face_box: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    blazepose: np.ndarray | None = field(default=None, repr=False)

    @property
    def has_face(self) -> bool:
        """Whether the face finder found this person's face (:attr:`face_box`)."""
        return self.face_box is not None

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
            face_box=None if self.face_box is None else self.face_box.copy(),
            notes=list(self.notes),
            blazepose=None if self.blazepose is None else self.blazepose.copy(),
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
