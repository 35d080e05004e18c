"""OpenPose-style skeleton drawing (stateless: canvas in, canvas out)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...image_utils import to_numpy_rgb
from .keypoints import PersonPose

__all__ = ["OPENPOSE_LIMBS", "OPENPOSE_COLORS", "draw_openpose", "draw_pose_overlay"]

#: COCO-18 keypoint pairs joined by a limb, in OpenPose's drawing order.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

#: RGB colour per limb and per keypoint (OpenPose's 18-colour palette).
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


def draw_openpose(
    canvas_or_size: np.ndarray | tuple[int, int],
    poses: Sequence[PersonPose] | PersonPose,
    *,
    stick_width: int | None = None,
) -> np.ndarray:
    """Draw OpenPose body skeletons (coloured limbs and joints).

    Keypoints are read in normalised ``[0, 1]`` coordinates and scaled to the
    canvas, so a pose can be drawn on a canvas of any size (controlnet_aux
    ``draw_bodypose`` convention). Keypoints that are not
    :attr:`~PersonPose.visible` are skipped, with their limbs.

    Args:
        canvas_or_size: ``(H, W, 3)`` uint8 RGB canvas (a copy is drawn on) or
            ``(width, height)`` of a new black canvas.
        poses: One :class:`PersonPose` or a sequence of them.
        stick_width: Limb half-thickness in pixels; default
            ``max(2, round(4 * min(H, W) / 512))``.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.

    Raises:
        ValueError: ``canvas_or_size`` is neither an ``(H, W, 3)`` uint8 array
            nor a positive ``(width, height)``.

    Source:
        Limb pairs and palette of OpenPose (Cao et al., CVPR 2017), as drawn by
        controlnet_aux ``open_pose/util.py`` ``draw_bodypose``; own code.
    """
    import cv2

    if isinstance(canvas_or_size, np.ndarray):
        if canvas_or_size.ndim != 3 or canvas_or_size.shape[2] != 3 or canvas_or_size.dtype != np.uint8:
            raise ValueError(f"canvas must be (H, W, 3) uint8, got {canvas_or_size.shape} {canvas_or_size.dtype}")
        canvas = canvas_or_size.copy()
    else:
        w, h = (int(v) for v in canvas_or_size)
        if w <= 0 or h <= 0:
            raise ValueError(f"canvas size must be positive (width, height), got {canvas_or_size!r}")
        canvas = np.zeros((h, w, 3), dtype=np.uint8)
    if isinstance(poses, PersonPose):
        poses = [poses]
    h, w = canvas.shape[:2]
    sw = stick_width or max(2, round(4 * min(h, w) / 512))
    for pose in poses:
        pts = pose.keypoints.astype(np.float64) * np.array([w, h])
        vis = pose.visible
        for limb, (a, b) in enumerate(OPENPOSE_LIMBS):
            if not (vis[a] and vis[b]):
                continue
            (xa, ya), (xb, yb) = pts[a], pts[b]
            length = math.hypot(xa - xb, ya - yb)
            angle = math.degrees(math.atan2(ya - yb, xa - xb))
            centre = (int(round((xa + xb) / 2 - 0.5)), int(round((ya + yb) / 2 - 0.5)))
            polygon = cv2.ellipse2Poly(centre, (int(length / 2), sw), int(angle), 0, 360, 1)
            layer = canvas.copy()
            cv2.fillConvexPoly(layer, polygon, OPENPOSE_COLORS[limb])
            canvas = cv2.addWeighted(canvas, 0.4, layer, 0.6, 0)
        for i in range(18):
            if vis[i]:
                x, y = pts[i]
                cv2.circle(canvas, (int(x), int(y)), sw, OPENPOSE_COLORS[i], thickness=-1)
    return canvas


def draw_pose_overlay(image, poses: Sequence[PersonPose], *, numbered: bool | None = None, selected: int | None = None) -> np.ndarray:
    """Skeletons and person boxes drawn over the photo, for picking a person.

    Args:
        image: The photo the poses were detected on: PIL image or
            ``(H, W, 3)`` uint8 RGB.
        poses: People in that photo (e.g. :func:`detect_people`).
        numbered: Write ``1, 2, ...`` (list order) at each box's top-left;
            default: only when there are several people.
        selected: Index of a person to highlight (thick green box); the others
            get thin grey boxes.

    Returns:
        ``(H, W, 3)`` uint8 RGB image, same size as ``image``.

    Raises:
        InputImageError: ``image`` is not an image.

    Source:
        Our own.
    """
    import cv2

    photo = to_numpy_rgb(image)
    out = draw_openpose(photo, poses)
    out = cv2.addWeighted(photo, 0.35, out, 0.65, 0)
    h, w = out.shape[:2]
    numbered = len(poses) > 1 if numbered is None else numbered
    thick = max(1, round(min(h, w) / 256))
    for i, pose in enumerate(poses):
        x0, y0, x1, y1 = (int(round(v)) for v in pose.box)
        is_sel = selected == i
        colour = (0, 200, 0) if is_sel else (160, 160, 160)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, thick * (2 if is_sel else 1))
        if numbered:
            scale = max(0.5, min(h, w) / 400)
            label = str(i + 1)
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick + 1)
            cv2.rectangle(out, (x0, y0), (x0 + tw + 6, y0 + th + base + 6), colour, -1)
            cv2.putText(out, label, (x0 + 3, y0 + th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick + 1, cv2.LINE_AA)
    return out
