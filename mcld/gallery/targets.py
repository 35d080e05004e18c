"""A gallery pose as the pose guider's target, and its thumbnail.

Source:
    Our own; mirror and alignment as :meth:`mcld.pose_transfer.PoseTransfer.prepare_target`.
"""

from __future__ import annotations

import numpy as np

from .entries import APPROXIMATE_IUV_NOTE, REAL_IUV_NOTE, GalleryPose, pose_in_crop_frame
from .skeleton import render_iuv_from_pose

__all__ = ["gallery_target", "gallery_thumbnail"]

_CACHED = "cached"


def _symmetry(uv_symmetry):
    """``(table or None, note or None)`` for a ``uv_symmetry`` argument."""
    if isinstance(uv_symmetry, str):
        if uv_symmetry != _CACHED:
            raise ValueError(f"uv_symmetry must be a UVSymmetry, None or 'cached', got {uv_symmetry!r}")
        from ..annotators.densepose.iuv import find_uv_symmetry

        return find_uv_symmetry(local_files_only=True)  # a request never waits for the network
    return uv_symmetry, None


def gallery_target(pose: GalleryPose, *, mirror: bool = False, align_to=None, uv_symmetry="cached"):
    """A :class:`~mcld.pose_transfer.TargetConditions` from a gallery pose.

    With a real DensePose IUV (:attr:`GalleryPose.real_iuv`), that IUV is the
    target, mirrored with :func:`mcld.annotators.densepose.iuv.mirror_iuv`
    and aligned by warping it. Otherwise the skeleton is moved into the crop
    frame, mirrored and aligned, and :func:`render_iuv_from_pose` draws its
    IUV. ``warnings`` say which it is (:data:`REAL_IUV_NOTE` /
    :data:`APPROXIMATE_IUV_NOTE`, starting ``"Gallery pose '<label>': "``),
    and whether a mirror was approximate.

    Args:
        pose: A :class:`GalleryPose`.
        mirror: Mirror left-right (the person's left and right swap too).
        align_to: Anything with the source person's ``pose`` in crop pixels
            (:class:`~mcld.pose_transfer.SourceConditions` or
            :class:`~mcld.pose_transfer.PersonCrop`) to scale and move the
            pose onto; ``None`` leaves it where the gallery puts it. A real
            IUV has no skeleton, so it is fitted by its body box.
        uv_symmetry: For mirroring a real IUV: DensePose's table
            (:class:`~mcld.annotators.densepose.iuv.UVSymmetry`), ``None`` for
            the approximate mirror, or ``"cached"`` (default) to read the
            table from the disk cache if an earlier call fetched it (no
            download here: :func:`mcld.gallery.precompute_gallery_iuvs` does
            that at start-up).

    Returns:
        :class:`~mcld.pose_transfer.TargetConditions` with ``photo=None`` and
        an ``(512, 352, 3)`` uint8 ``iuv``.

    Raises:
        ValueError: a skeleton without neck or hips, or a bad ``uv_symmetry``.

    Source:
        Our own.
    """
    from ..annotators.mediapipe_pose import align_pose, mirror_pose
    from ..pose_transfer import CROP_SIZE, TargetConditions

    person = pose_in_crop_frame(pose)
    warnings = [*pose.notes]
    if pose.real_iuv:
        from ..annotators.densepose.iuv import APPROXIMATE_MIRROR_NOTE, mirror_iuv
        from ..person_crop import warp_image

        warnings.insert(0, f"Gallery pose '{pose.label}': {REAL_IUV_NOTE} IUV.")
        iuv = pose.iuv.copy()
        if mirror:
            table, _ = _symmetry(uv_symmetry)
            iuv = mirror_iuv(iuv, table)
            person = mirror_pose(person)
            if table is None:
                warnings.append(f"{APPROXIMATE_MIRROR_NOTE[0].upper()}{APPROXIMATE_MIRROR_NOTE[1:]}.")
        if align_to is not None:
            person, affine = align_pose(person, align_to.pose)
            iuv = warp_image(iuv, affine, CROP_SIZE, nearest=True, border="black")
    else:
        warnings.insert(0, f"Gallery pose '{pose.label}': {APPROXIMATE_IUV_NOTE}.")
        if mirror:
            person = mirror_pose(person)
        if align_to is not None:
            person, _ = align_pose(person, align_to.pose)
        iuv = render_iuv_from_pose(person, CROP_SIZE)
    return TargetConditions(
        photo=None,
        people=[person],
        person_index=0,
        pose=person,
        iuv=iuv,
        mirrored=bool(mirror),
        aligned=align_to is not None,
        warnings=warnings,
    )


def gallery_thumbnail(pose: GalleryPose, height: int = 256) -> np.ndarray:
    """The gallery grid's picture of a pose, in the crop frame.

    A real DensePose IUV is shown as it is (colour-coded parts); a skeleton
    is drawn over its approximate IUV (dimmed), so the two kinds look
    different at a glance.

    Args:
        pose: A :class:`GalleryPose`.
        height: Output height in pixels.

    Returns:
        ``(height, round(height * 352 / 512), 3)`` uint8 RGB.

    Source:
        Our own.
    """
    import cv2

    from ..annotators.densepose.iuv import iuv_to_display
    from ..annotators.mediapipe_pose import draw_openpose
    from ..pose_transfer import CROP_SIZE

    if pose.real_iuv:
        out = iuv_to_display(pose.iuv)
    else:
        person = pose_in_crop_frame(pose)
        canvas = (iuv_to_display(render_iuv_from_pose(person, CROP_SIZE)).astype(np.float32) * 0.45).astype(np.uint8)
        out = draw_openpose(canvas, [person])
    w = round(height * CROP_SIZE[0] / CROP_SIZE[1])
    return cv2.resize(out, (w, height), interpolation=cv2.INTER_AREA)
