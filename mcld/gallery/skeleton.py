"""An approximate DensePose IUV drawn from a COCO-18 skeleton: the gallery's
labelled fallback where no DensePose prediction exists.

MCLD's pose guider reads a DensePose IUV image, not keypoints. A pose given
only as a skeleton gets an IUV drawn by :func:`render_iuv_from_pose`: a torso
polygon, capsules for the eight limb segments, small capsules for hands and
feet and an ellipse for the head, each with its DensePose part id (1..24) and
U, V running along / across the part. It is a drawing, not a DensePose
prediction: body shape, clothing volume and the exact DensePose UV charts are
not modelled, so results from such poses are rougher than from a real IUV
(:data:`SKELETON_IUV_NOTE`).

Source:
    DensePose part ids from Güler et al., "DensePose", CVPR 2018 (dataset
    notes: 1, 2 torso; 3 right hand; 4 left hand; 5 left foot; 6 right foot;
    7, 9 upper leg right; 8, 10 upper leg left; 11, 13 lower leg right; 12, 14
    lower leg left; 15, 17 upper arm left; 16, 18 upper arm right; 19, 21
    lower arm left; 20, 22 lower arm right; 23, 24 head). Which id of each
    pair is the front/back (and which head id is the right half) is our
    assumption. The drawing itself is our own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SKELETON_IUV_NOTE", "render_iuv_from_pose"]

#: What a pose whose IUV is drawn from its skeleton is called in the UI.
SKELETON_IUV_NOTE = "drawn from a skeleton (approximate)"

# COCO-18 indices (see mcld.annotators.mediapipe_pose.COCO18_NAMES).
NOSE, NECK, R_SHO, R_ELB, R_WRI, L_SHO, L_ELB, L_WRI = 0, 1, 2, 3, 4, 5, 6, 7
R_HIP, R_KNE, R_ANK, L_HIP, L_KNE, L_ANK, R_EYE, L_EYE, R_EAR, L_EAR = 8, 9, 10, 11, 12, 13, 14, 15, 16, 17

# (front id, back id) per part; hands/feet/head are not front/back split.
_PARTS = {
    "torso": (2, 1),
    "upper_leg_r": (9, 7),
    "upper_leg_l": (10, 8),
    "lower_leg_r": (13, 11),
    "lower_leg_l": (14, 12),
    "upper_arm_l": (17, 15),
    "upper_arm_r": (18, 16),
    "lower_arm_l": (21, 19),
    "lower_arm_r": (22, 20),
}
_HAND_R, _HAND_L, _FOOT_L, _FOOT_R, _HEAD_R, _HEAD_L = 3, 4, 5, 6, 23, 24

# Segment radii as fractions of the torso length (neck to mid-hip).
_RADIUS = {"upper_arm": 0.12, "lower_arm": 0.095, "upper_leg": 0.17, "lower_leg": 0.13, "hand": 0.075, "foot": 0.075}


# ----------------------------------------------------------------- IUV drawing
def _paint_capsule(iuv, xx, yy, a, b, radius, part):
    """Paint a capsule a->b: U = position along (0 at a, 1 at b), V = across."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d = b - a
    length2 = float(d @ d)
    if length2 < 1e-6:
        t = np.zeros_like(xx)
        across = np.zeros_like(xx)
        dist = np.hypot(xx - a[0], yy - a[1])
    else:
        t = ((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / length2
        tc = np.clip(t, 0.0, 1.0)
        px, py = a[0] + tc * d[0], a[1] + tc * d[1]
        dist = np.hypot(xx - px, yy - py)
        n = np.array([-d[1], d[0]]) / np.sqrt(length2)
        across = ((xx - a[0]) * n[0] + (yy - a[1]) * n[1]) / radius
    mask = dist <= radius
    iuv[..., 0][mask] = part
    iuv[..., 1][mask] = (np.clip(t[mask], 0, 1) * 255).astype(np.uint8)
    iuv[..., 2][mask] = (np.clip((across[mask] + 1) / 2, 0, 1) * 255).astype(np.uint8)


def render_iuv_from_pose(pose, size: tuple[int, int] | None = None) -> np.ndarray:
    """Approximate DensePose IUV drawn from a COCO-18 skeleton (pose-only).

    Parts are painted back to front (torso, legs, head, arms, hands, feet);
    the facing side (front ids vs back ids) is read from the shoulders: the
    person's right shoulder on the image's left means the person faces the
    camera. Missing keypoints drop their parts (a missing hip or shoulder is
    replaced from its partner when the torso is otherwise visible).

    Args:
        pose: :class:`~mcld.annotators.mediapipe_pose.PersonPose` (keypoints
            normalised to ``pose.image_size``).
        size: ``(width, height)`` of the output; default ``pose.image_size``.

    Returns:
        ``(H, W, 3)`` uint8 ``(I, U*255, V*255)``; ``I`` in 0..24, 0 = background.

    Raises:
        ValueError: the neck or both hips are missing (no torso to draw).

    Note:
        An approximation (see the module docstring): use it only where no
        DensePose prediction exists, and label it (:data:`SKELETON_IUV_NOTE`).

    Source:
        Our own drawing; part ids from DensePose (Güler et al., CVPR 2018).
    """
    w, h = size if size is not None else pose.image_size
    k = np.asarray(pose.keypoints, np.float64) * np.array([w, h], np.float64)
    vis = np.asarray(pose.visibility) >= 0.5
    iuv = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5

    hips = [i for i in (R_HIP, L_HIP) if vis[i]]
    if not vis[NECK] or not hips:
        raise ValueError("a gallery pose needs the neck and at least one hip to draw a body")
    r_sho = k[R_SHO] if vis[R_SHO] else (2 * k[NECK] - k[L_SHO] if vis[L_SHO] else k[NECK])
    l_sho = k[L_SHO] if vis[L_SHO] else 2 * k[NECK] - r_sho
    mid_hip = k[hips].mean(0)
    r_hip = k[R_HIP] if vis[R_HIP] else 2 * mid_hip - k[L_HIP]
    l_hip = k[L_HIP] if vis[L_HIP] else 2 * mid_hip - k[R_HIP]
    torso_len = max(float(np.linalg.norm(mid_hip - k[NECK])), 1.0)
    front = r_sho[0] <= l_sho[0]
    side = 0 if front else 1

    # Torso: polygon shoulders -> hips, U across (person's right -> left), V down.
    import cv2

    sho_w = float(np.linalg.norm(l_sho - r_sho))
    hip_w = float(np.linalg.norm(l_hip - r_hip))
    pad = 0.08 * torso_len
    axis = (mid_hip - k[NECK]) / torso_len
    perp = np.array([-axis[1], axis[0]])
    half_top = max(sho_w / 2, 0.2 * torso_len) + pad * 0.5
    half_bot = max(hip_w / 2 + pad, 0.22 * torso_len)
    top = k[NECK] - axis * pad * 0.5
    bot = mid_hip + axis * pad
    poly = np.array([top - perp * half_top, top + perp * half_top, bot + perp * half_bot, bot - perp * half_bot])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(poly).astype(np.int32), 1)
    m = mask.astype(bool)
    rel_x, rel_y = xx - top[0], yy - top[1]
    along = (rel_x * axis[0] + rel_y * axis[1]) / max(float(np.linalg.norm(bot - top)), 1.0)
    half = half_top + (half_bot - half_top) * np.clip(along, 0, 1)
    across = (rel_x * perp[0] + rel_y * perp[1]) / half
    if not front:
        across = -across
    iuv[..., 0][m] = _PARTS["torso"][side]
    iuv[..., 1][m] = (np.clip((across[m] + 1) / 2, 0, 1) * 255).astype(np.uint8)
    iuv[..., 2][m] = (np.clip(along[m], 0, 1) * 255).astype(np.uint8)

    def seg(a_idx, b_idx, a_pt=None):
        a_ok = a_pt is not None or vis[a_idx]
        return a_ok and vis[b_idx], (a_pt if a_pt is not None else k[a_idx]), k[b_idx]

    r = {name: frac * torso_len for name, frac in _RADIUS.items()}
    # Legs.
    for hip_pt, knee, ankle, up, low in (
        (r_hip, R_KNE, R_ANK, "upper_leg_r", "lower_leg_r"),
        (l_hip, L_KNE, L_ANK, "upper_leg_l", "lower_leg_l"),
    ):
        ok, a, b = seg(None, knee, hip_pt)
        if ok:
            _paint_capsule(iuv, xx, yy, a, b, r["upper_leg"], _PARTS[up][side])
            ok2, a2, b2 = seg(knee, ankle)
            if ok2:
                _paint_capsule(iuv, xx, yy, a2, b2, r["lower_leg"], _PARTS[low][side])
    # Head: ellipse around the face, split into the two head parts at the nose.
    face_pts = [k[i] for i in (NOSE, R_EYE, L_EYE, R_EAR, L_EAR) if vis[i]]
    if face_pts:
        centre = np.mean(face_pts, 0) + (np.mean(face_pts, 0) - k[NECK]) * 0.15
        up_vec = centre - k[NECK]
        up_len = max(float(np.linalg.norm(up_vec)), 1.0)
        u_axis = up_vec / up_len
        v_axis = np.array([-u_axis[1], u_axis[0]])
        ry, rx = 0.24 * torso_len, 0.18 * torso_len
        dx, dy = xx - centre[0], yy - centre[1]
        a_coord = (dx * v_axis[0] + dy * v_axis[1]) / rx
        b_coord = (dx * u_axis[0] + dy * u_axis[1]) / ry
        m = a_coord**2 + b_coord**2 <= 1.0
        # Person's right half: the side of the right eye/ear relative to the nose.
        right_ref = next((k[i] for i in (R_EYE, R_EAR) if vis[i]), None)
        sign = 1.0
        if right_ref is not None:
            sign = 1.0 if float((right_ref - np.mean(face_pts, 0)) @ v_axis) >= 0 else -1.0
        right = m & (a_coord * sign >= 0)
        left = m & ~right
        for mk, part in ((right, _HEAD_R), (left, _HEAD_L)):
            iuv[..., 0][mk] = part
            iuv[..., 1][mk] = (np.clip(np.abs(a_coord[mk]), 0, 1) * 255).astype(np.uint8)
            iuv[..., 2][mk] = (np.clip((1 - b_coord[mk]) / 2, 0, 1) * 255).astype(np.uint8)
    # Arms.
    for sho_pt, sho_idx, elb, wri, up, low, hand in (
        (r_sho, R_SHO, R_ELB, R_WRI, "upper_arm_r", "lower_arm_r", _HAND_R),
        (l_sho, L_SHO, L_ELB, L_WRI, "upper_arm_l", "lower_arm_l", _HAND_L),
    ):
        if not vis[sho_idx]:
            continue
        ok, a, b = seg(sho_idx, elb)
        if not ok:
            continue
        _paint_capsule(iuv, xx, yy, a, b, r["upper_arm"], _PARTS[up][side])
        ok2, a2, b2 = seg(elb, wri)
        if ok2:
            _paint_capsule(iuv, xx, yy, a2, b2, r["lower_arm"], _PARTS[low][side])
            d = b2 - a2
            n = max(float(np.linalg.norm(d)), 1.0)
            _paint_capsule(iuv, xx, yy, b2, b2 + d / n * 0.16 * torso_len, r["hand"], hand)
    # Feet: a short capsule past the ankle, continuing the shin and turned
    # towards the viewer's side the person faces (front: straight down).
    for knee, ankle, foot in ((R_KNE, R_ANK, _FOOT_R), (L_KNE, L_ANK, _FOOT_L)):
        if vis[knee] and vis[ankle]:
            d = k[ankle] - k[knee]
            n = max(float(np.linalg.norm(d)), 1.0)
            _paint_capsule(iuv, xx, yy, k[ankle], k[ankle] + d / n * 0.12 * torso_len, r["foot"], foot)
    return iuv
