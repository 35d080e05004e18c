"""MediaPipe body pose for the pose picker: several people, COCO-18 keypoints.

Detect with :meth:`MediaPipePoseDetector.detect` (or :func:`detect_people`,
which builds a detector per call), draw with
:func:`draw_openpose` / :func:`draw_pose_overlay`, pick with
:func:`pick_person`, edit with :func:`mirror_pose` and :func:`align_pose`.
MediaPipe is imported lazily; its graphs are built on first use.

Example:
    >>> from mcld.annotators.mediapipe_pose import MediaPipePoseDetector, draw_openpose
    >>> detector = MediaPipePoseDetector.from_pretrained()  # bundled models
    >>> people = detector.detect(photo)         # sorted left to right
    >>> skeleton = draw_openpose((512, 512), people[0])
"""

from .detect import MediaPipePoseDetector, detect_people, pick_person
from .draw import OPENPOSE_COLORS, OPENPOSE_LIMBS, draw_openpose, draw_pose_overlay
from .keypoints import (
    BLAZEPOSE_FLIP_PAIRS,
    BLAZEPOSE_TO_COCO18,
    COCO18_FLIP_PAIRS,
    COCO18_NAMES,
    FACE_KEYPOINTS,
    FEET_OUT_OF_FRAME_NOTE,
    NO_FACE_NOTE,
    VISIBILITY_THRESHOLD,
    PersonPose,
    blazepose_to_coco18,
    to_pixels,
)
from .ops import align_pose, mirror_affine, mirror_pose, torso_anchor, transform_pose

__all__ = [
    "MediaPipePoseDetector",
    "detect_people",
    "pick_person",
    "draw_openpose",
    "draw_pose_overlay",
    "OPENPOSE_COLORS",
    "OPENPOSE_LIMBS",
    "PersonPose",
    "COCO18_NAMES",
    "BLAZEPOSE_TO_COCO18",
    "COCO18_FLIP_PAIRS",
    "VISIBILITY_THRESHOLD",
    "BLAZEPOSE_FLIP_PAIRS",
    "FACE_KEYPOINTS",
    "NO_FACE_NOTE",
    "FEET_OUT_OF_FRAME_NOTE",
    "blazepose_to_coco18",
    "to_pixels",
    "mirror_pose",
    "mirror_affine",
    "align_pose",
    "transform_pose",
    "torso_anchor",
]
