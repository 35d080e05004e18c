"""Pose-picker operations on COCO-18 keypoints: mirror, align, transform.

Affines are ``(2, 3)`` float64 maps of pixel coordinates (continuous, pixel
``i`` centred at ``i + 0.5``), so the same transform can be applied to an image
of the same frame, e.g. a target DensePose IUV map, with
``mcld.person_crop.warp_image(iuv, affine, out_size, nearest=True)``.
"""

from __future__ import annotations

import numpy as np

from .keypoints import BLAZEPOSE_FLIP_PAIRS, COCO18_FLIP_PAIRS, PersonPose

__all__ = ["mirror_pose", "mirror_affine", "transform_pose", "align_pose", "torso_anchor"]


def mirror_affine(image_size: tuple[int, int]) -> np.ndarray:
    """``(2, 3)`` affine of a horizontal flip of a ``(width, height)`` image:
    ``x -> W - x``."""
    w = float(image_size[0])
    return np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0]], dtype=np.float64)


def mirror_pose(pose: PersonPose) -> PersonPose:
    """Mirror a pose horizontally in its own image frame.

    ``x -> 1 - x`` (normalised), then left and right keypoints swap
    (shoulders, elbows, wrists, hips, knees, ankles, eyes, ears), so the
    result is the pose of the mirrored person, with correct left/right labels.
    Mirroring twice gives the original pose back.

    Args:
        pose: A :class:`PersonPose`.

    Returns:
        A new :class:`PersonPose` (same image size; person box, face box and
        BlazePose landmarks mirrored too, their left/right swapped). The
        pixel transform is :func:`mirror_affine`. Note: a DensePose IUV image
        mirrored this way would also need its left/right part labels and U
        coordinates swapped; that belongs to the DensePose module.

    Source:
        Our own; flip pairs from the COCO keypoint definition.
    """
    kps = pose.keypoints.copy()
    vis = pose.visibility.copy()
    kps[:, 0] = 1.0 - kps[:, 0]
    for a, b in COCO18_FLIP_PAIRS:
        kps[[a, b]] = kps[[b, a]]
        vis[[a, b]] = vis[[b, a]]
    w = float(pose.image_size[0])
    x0, y0, x1, y1 = pose.box
    box = np.array([w - x1, y0, w - x0, y1], dtype=np.float32)
    face_box = None
    if pose.face_box is not None:
        fx0, fy0, fx1, fy1 = pose.face_box
        face_box = np.array([w - fx1, fy0, w - fx0, fy1], dtype=np.float32)
    blaze = None
    if pose.blazepose is not None:
        blaze = pose.blazepose.copy()
        blaze[:, 0] = 1.0 - blaze[:, 0]
        for a, b in BLAZEPOSE_FLIP_PAIRS:
            blaze[[a, b]] = blaze[[b, a]]
    return pose.copy(keypoints=kps.astype(np.float32), visibility=vis, box=box, face_box=face_box, blazepose=blaze)


def transform_pose(pose: PersonPose, affine: np.ndarray, image_size: tuple[int, int]) -> PersonPose:
    """Apply a pixel affine to a pose and re-express it in a new image frame.

    Args:
        pose: Pose in its own frame.
        affine: ``(2, 3)`` pixel affine from ``pose``'s frame to the new one.
        image_size: ``(width, height)`` of the new frame, pixels.

    Returns:
        A new :class:`PersonPose` (keypoints and BlazePose landmarks
        normalised to the new frame; the person box and face box are the
        bounding boxes of their transformed corners; visibility and notes
        unchanged).

    Raises:
        ValueError: ``affine`` is not ``(2, 3)``.

    Source:
        Our own.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (2, 3):
        raise ValueError(f"affine must be (2, 3), got {a.shape}")
    px = pose.keypoints_px.astype(np.float64) @ a[:, :2].T + a[:, 2]
    size = np.asarray(image_size, dtype=np.float64)
    box = _transform_box(pose.box, a)
    face_box = None if pose.face_box is None else _transform_box(pose.face_box, a)
    blaze = None
    if pose.blazepose is not None:
        old_size = np.asarray(pose.image_size, dtype=np.float64)
        blaze = pose.blazepose.astype(np.float64).copy()
        blaze[:, :2] = ((blaze[:, :2] * old_size) @ a[:, :2].T + a[:, 2]) / size
        blaze = blaze.astype(np.float32)
    return pose.copy(
        keypoints=(px / size).astype(np.float32),
        box=box,
        face_box=face_box,
        blazepose=blaze,
        image_size=(int(image_size[0]), int(image_size[1])),
    )


def _transform_box(box: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Bounding box ``(4,)`` float32 of an XYXY box's corners under a pixel affine."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ a[:, :2].T + a[:, 2]
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)]).astype(np.float32)


def torso_anchor(pose: PersonPose, use_hips: bool = True) -> tuple[np.ndarray, float]:
    """Torso centre and size of a pose, in pixels.

    With ``use_hips``: centre = midpoint of the neck and the hip centre, size =
    neck-to-hip-centre distance. Otherwise: centre = neck, size = shoulder
    width.

    Returns:
        ``(centre (2,) float64 pixels, size float pixels)``.

    Source:
        Our own.
    """
    k = pose.keypoints_px.astype(np.float64)
    neck = k[1]
    if use_hips:
        hips = (k[8] + k[11]) / 2.0
        return (neck + hips) / 2.0, float(np.linalg.norm(neck - hips))
    return neck, float(np.linalg.norm(k[2] - k[5]))


def align_pose(target: PersonPose, source: PersonPose) -> tuple[PersonPose, np.ndarray]:
    """Scale and move a target pose so its body fits the source person.

    A similarity transform without rotation, ``p -> s * p + t``, from the
    target's pixel frame to the source's pixel frame:

    * If both skeletons show the neck (shoulders) and both hips: ``s`` =
      source torso length / target torso length (neck to hip-centre), and
      ``t`` puts the target's torso centre (midpoint of neck and hip-centre) on
      the source's.
    * Else, if both show both shoulders: ``s`` = ratio of shoulder widths and
      the necks coincide.
    * Else: ``s`` = ratio of box heights and the box centres coincide.

    Args:
        target: The pose to generate (its own image frame).
        source: The person in the source photo (the frame to fit into).

    Returns:
        ``(aligned, affine)``: ``aligned`` is the target pose expressed in the
        source image frame (``image_size = source.image_size``), ``affine`` the
        ``(2, 3)`` float64 pixel affine target-frame -> source-frame (apply it
        to the target's DensePose IUV with
        ``warp_image(iuv, affine, source.image_size, nearest=True)``).

    Raises:
        ValueError: a torso or box has zero size.

    Source:
        Our own.
    """
    def shown(pose: PersonPose, idx) -> bool:
        return bool(np.all(pose.visibility[list(idx)] >= 0.5))

    if shown(target, (2, 5, 8, 11)) and shown(source, (2, 5, 8, 11)):
        (ct, lt), (cs, ls) = torso_anchor(target), torso_anchor(source)
    elif shown(target, (2, 5)) and shown(source, (2, 5)):
        (ct, lt), (cs, ls) = torso_anchor(target, False), torso_anchor(source, False)
    else:
        bt, bs = target.box.astype(np.float64), source.box.astype(np.float64)
        ct, lt = (bt[:2] + bt[2:]) / 2.0, bt[3] - bt[1]
        cs, ls = (bs[:2] + bs[2:]) / 2.0, bs[3] - bs[1]
    if lt <= 1e-6 or ls <= 1e-6:
        raise ValueError(f"cannot align poses with a zero-size torso (target {lt:.3g} px, source {ls:.3g} px)")
    s = ls / lt
    t = cs - s * ct
    affine = np.array([[s, 0.0, t[0]], [0.0, s, t[1]]], dtype=np.float64)
    return transform_pose(target, affine, source.image_size), affine
