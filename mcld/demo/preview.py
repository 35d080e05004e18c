"""The target pose exactly as Generate will use it, drawn on the CPU (no GPU call).

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

import numpy as np

from .options import TargetMode
from .people import person_index, source_crop
from .status import people_note

__all__ = ["pose_picture", "preview_target"]


def pose_picture(pose) -> np.ndarray:
    """``(512, 352, 3)`` uint8 RGB: a pose's skeleton in the crop frame, on black."""
    from ..annotators.mediapipe_pose import draw_pose_overlay
    from ..conditions import CROP_SIZE

    return draw_pose_overlay(np.zeros((CROP_SIZE[1], CROP_SIZE[0], 3), np.uint8), [pose])


def _preview_gallery(services, name, mirror, crop):
    """A gallery pose's preview: the IUV the model gets, and one note naming it."""
    from ..annotators.densepose.iuv import iuv_to_display
    from ..gallery import gallery_target

    if not name:
        return None, "Choose a pose in the gallery."
    pose = services.gallery_pose(name)
    target = gallery_target(pose, mirror=bool(mirror), align_to=crop)
    # One name: the entry's own "Gallery pose '<label>': ..." sentence is replaced by one with its name.
    others = [w for w in target.warnings if not w.startswith("Gallery pose '")]
    notes = [
        f"Gallery pose **{pose.name}**: {pose.iuv_note}.", *others,
        "Mirrored." if target.mirrored else "", "Aligned to the source person." if target.aligned else "",
    ]  # fmt: skip
    return iuv_to_display(target.iuv), " ".join(n for n in notes if n)


def preview_target(services, target_mode, target_path, target_person, gallery_pose, mirror, align, source_path, source_person):
    """The target preview: a gallery pose as the IUV the model gets; a photo
    target as the chosen person's skeleton in the crop frame, mirrored and
    aligned as asked (its DensePose IUV comes with Generate's result).

    Args:
        services: The :class:`mcld.demo.DemoServices`.
        target_mode: A :class:`mcld.demo.TargetMode`, its string, or ``None`` (photo).
        target_path: Target-photo path (photo mode), or ``None``.
        target_person: Chosen person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode), or ``None``.
        mirror: Mirror the pose left-right.
        align: Scale and move the pose onto the source person.
        source_path: Source-photo path (used with ``align``), or ``None``.
        source_person: Source person index, ``-1`` for the largest.

    Returns:
        ``(picture, note)``: ``(512, 352, 3)`` uint8 RGB (``None`` with
        nothing to show) and a Markdown note.

    Raises:
        mcld.errors.MCLDError: unusable file, nobody found, unknown gallery pose
            or target mode.
    """
    from ..annotators.mediapipe_pose import align_pose, mirror_pose

    crop = source_crop(services.locator(), source_path, source_person) if align else None
    if TargetMode.of(target_mode) is TargetMode.GALLERY:
        return _preview_gallery(services, gallery_pose, mirror, crop)
    if not target_path:
        return None, ""
    target = services.locator().locate_person(target_path, person_index(target_person), what="target")
    pose = mirror_pose(target.pose) if mirror else target.pose
    if crop is not None:
        pose, _ = align_pose(pose, crop.pose)
    people = people_note(target.people, target.person_index, "target")
    notes = [
        *(w for w in target.warnings if w not in people), people, "Mirrored." if mirror else "",
        "Aligned to the source person." if crop is not None else "",
        "Its DensePose IUV is computed with Generate (one GPU call) and shown under Conditions.",
    ]  # fmt: skip
    return pose_picture(pose), " ".join(n for n in notes if n)
