"""Gallery poses for the demo: COCO-18 keypoint JSON files -> an approximate
DensePose IUV the pose guider can read, plus the demo's licensed example photos.

MCLD's pose guider reads a DensePose IUV image, not keypoints. A gallery pose
has only a skeleton, so :func:`render_iuv_from_pose` draws an **approximate**
IUV from it ("pose-only: IUV approximated from the skeleton"): a torso
polygon, capsules for the eight limb segments, small capsules for hands and
feet and an ellipse for the head, each with its DensePose part id (1..24) and
U, V running along / across the part. It is a drawing, not a DensePose
prediction: body shape, clothing volume and the exact DensePose UV charts are
not modelled, so results from gallery poses are rougher than from photos.

Gallery file format (``examples/poses/*.json``, written by
``examples/make_poses.py``)::

    {
      "name": "t_pose",                       # file stem, stable id
      "label": "T-pose",                      # shown in the UI
      "image_size": [352, 512],               # (width, height) pixels
      "keypoints": [[x, y], ...],             # 18 x 2, normalised to [0, 1], COCO-18 order
      "visibility": [v, ...],                 # 18 values in [0, 1]
      "box": [x0, y0, x1, y1],                # person box, pixels (optional)
      "source": "hand-made" | "MediaPipe on <photo> (<licence>)"
    }

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

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "GALLERY_DIR",
    "APPROXIMATE_IUV_NOTE",
    "GalleryPose",
    "load_gallery",
    "load_gallery_pose",
    "save_gallery_pose",
    "gallery_pose_to_person",
    "pose_in_crop_frame",
    "render_iuv_from_pose",
    "gallery_target",
    "gallery_thumbnail",
    "EXAMPLE_PHOTOS",
    "write_example_photos",
    "load_examples_dataset",
]

#: Folder of the shipped gallery poses (repository ``examples/poses``).
GALLERY_DIR = Path(__file__).resolve().parents[1] / "examples" / "poses"

#: What the UI says about gallery poses.
APPROXIMATE_IUV_NOTE = "pose-only: IUV approximated from the skeleton"

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


@dataclass
class GalleryPose:
    """One gallery pose as stored in ``examples/poses/<name>.json``.

    Attributes:
        name: Stable id (file stem).
        label: Human-readable name for the UI.
        keypoints: ``(18, 2)`` float32 ``(x, y)`` normalised to ``[0, 1]`` by
            ``image_size``, COCO-18 order.
        visibility: ``(18,)`` float32 in ``[0, 1]``.
        image_size: ``(width, height)`` pixels of the frame the pose lives in.
        box: ``(4,)`` float32 XYXY person box in pixels.
        source: Where the pose comes from (``"hand-made"`` or the photo and
            its licence).
    """

    name: str
    label: str
    keypoints: np.ndarray
    visibility: np.ndarray
    image_size: tuple[int, int]
    box: np.ndarray
    source: str = "hand-made"


def _box_from_keypoints(keypoints_px: np.ndarray, visible: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    pts = keypoints_px[visible] if visible.any() else keypoints_px
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    h = max(y1 - y0, 1.0)
    # Head top above the eyes/nose and feet below the ankles.
    box = np.array([x0 - 0.12 * h, y0 - 0.12 * h, x1 + 0.12 * h, y1 + 0.06 * h], np.float32)
    w_img, h_img = image_size
    return np.clip(box, [0, 0, 0, 0], [w_img, h_img, w_img, h_img]).astype(np.float32)


def load_gallery_pose(path: str | os.PathLike) -> GalleryPose:
    """Read one gallery JSON file.

    Args:
        path: ``.json`` file in the format of the module docstring.

    Returns:
        :class:`GalleryPose`.

    Raises:
        ValueError: the file does not hold 18 keypoints and an image size.
    """
    path = Path(path)
    data = json.loads(path.read_text())
    kps = np.asarray(data.get("keypoints"), np.float32)
    if kps.shape != (18, 2) or not np.isfinite(kps).all():
        raise ValueError(f"{path}: 'keypoints' must be 18 [x, y] pairs, got shape {kps.shape}")
    vis = np.asarray(data.get("visibility", [1.0] * 18), np.float32)
    if vis.shape != (18,):
        raise ValueError(f"{path}: 'visibility' must have 18 values, got {vis.shape}")
    size = tuple(int(v) for v in data.get("image_size", ()))
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"{path}: 'image_size' must be [width, height], got {data.get('image_size')!r}")
    box = data.get("box")
    box = (
        np.asarray(box, np.float32)
        if box is not None
        else _box_from_keypoints(kps * np.asarray(size, np.float32), vis >= 0.5, size)
    )
    return GalleryPose(
        name=str(data.get("name", path.stem)),
        label=str(data.get("label", path.stem.replace("_", " "))),
        keypoints=kps,
        visibility=vis,
        image_size=size,  # type: ignore[arg-type]
        box=box,
        source=str(data.get("source", "hand-made")),
    )


def load_gallery(directory: str | os.PathLike | None = None) -> list[GalleryPose]:
    """All gallery poses of a folder, sorted by file name.

    Args:
        directory: Folder of ``*.json`` poses; default :data:`GALLERY_DIR`.

    Returns:
        List of :class:`GalleryPose` (empty when the folder does not exist).
    """
    folder = Path(directory) if directory is not None else GALLERY_DIR
    if not folder.is_dir():
        return []
    return [load_gallery_pose(p) for p in sorted(folder.glob("*.json"))]


def save_gallery_pose(pose, path: str | os.PathLike, *, label: str | None = None, source: str = "hand-made") -> Path:
    """Write a :class:`~mcld.annotators.mediapipe_pose.PersonPose` (or a
    :class:`GalleryPose`) as a gallery JSON file.

    Args:
        pose: The pose (keypoints normalised to its ``image_size``).
        path: Output ``.json`` path; its stem becomes the pose name.
        label: UI label (default: the stem with spaces).
        source: Provenance string stored in the file.

    Returns:
        The written path.
    """
    path = Path(path)
    data = {
        "name": path.stem,
        "label": label or path.stem.replace("_", " "),
        "image_size": [int(v) for v in pose.image_size],
        "keypoints": np.round(np.asarray(pose.keypoints, np.float64), 4).tolist(),
        "visibility": np.round(np.asarray(pose.visibility, np.float64), 3).tolist(),
        "box": np.round(np.asarray(pose.box, np.float64), 1).tolist(),
        "source": source,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def gallery_pose_to_person(pose: GalleryPose):
    """The gallery pose as a :class:`~mcld.annotators.mediapipe_pose.PersonPose`.

    Args:
        pose: A :class:`GalleryPose`.

    Returns:
        ``PersonPose`` with copies of its keypoints (``(18, 2)`` in ``[0, 1]``),
        visibility and box (pixels of ``pose.image_size``), score 1.
    """
    from .annotators.mediapipe_pose import PersonPose

    return PersonPose(
        keypoints=pose.keypoints.copy(),
        visibility=pose.visibility.copy(),
        box=pose.box.copy(),
        score=1.0,
        image_size=tuple(pose.image_size),
    )


def pose_in_crop_frame(pose: GalleryPose):
    """Map a gallery pose into the 352x512 person-crop frame the model uses
    (same window rule as :func:`mcld.person_crop.crop_person` on its box).

    Returns:
        :class:`~mcld.annotators.mediapipe_pose.PersonPose` in crop pixels.
    """
    from .annotators.mediapipe_pose import transform_pose
    from .person_crop import crop_person
    from .pose_transfer import CROP_SIZE

    w, h = pose.image_size
    blank = np.zeros((h, w, 3), np.uint8)
    _, info = crop_person(blank, pose.box, out_height=CROP_SIZE[1], aspect=CROP_SIZE[0] / CROP_SIZE[1])
    return transform_pose(gallery_pose_to_person(pose), info.affine, info.out_size)


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
        photo, hence no DensePose prediction, exists.
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


def gallery_target(pose: GalleryPose, *, mirror: bool = False, align_to=None):
    """A :class:`~mcld.pose_transfer.TargetConditions` from a gallery pose.

    The pose is moved into the crop frame, optionally mirrored and aligned to
    the source person, then :func:`render_iuv_from_pose` draws its IUV
    (pose-only approximation; noted in ``warnings``).

    Args:
        pose: A :class:`GalleryPose`.
        mirror: Mirror left-right (keypoints swap sides, so the person keeps
            facing the same way relative to the body).
        align_to: Anything with the source person's ``pose`` in crop pixels
            (:class:`~mcld.pose_transfer.SourceConditions` or
            :class:`~mcld.pose_transfer.PersonCrop`) to scale and move the
            pose onto; ``None`` leaves it where the gallery file puts it.

    Returns:
        :class:`~mcld.pose_transfer.TargetConditions` with ``photo=None``.
    """
    from .annotators.mediapipe_pose import align_pose, mirror_pose
    from .pose_transfer import CROP_SIZE, TargetConditions

    person = pose_in_crop_frame(pose)
    if mirror:
        person = mirror_pose(person)
    aligned = False
    if align_to is not None:
        person, _ = align_pose(person, align_to.pose)
        aligned = True
    iuv = render_iuv_from_pose(person, CROP_SIZE)
    return TargetConditions(
        photo=None,
        people=[person],
        person_index=0,
        pose=person,
        iuv=iuv,
        mirrored=bool(mirror),
        aligned=aligned,
        warnings=[f"Gallery pose '{pose.label}': {APPROXIMATE_IUV_NOTE}."],
    )


def gallery_thumbnail(pose: GalleryPose, height: int = 256) -> np.ndarray:
    """``(height, ~0.69*height, 3)`` uint8 RGB: the skeleton over its approximate
    IUV (dimmed), in the crop frame, for the gallery grid."""
    from .annotators.mediapipe_pose import draw_openpose
    from .pose_transfer import CROP_SIZE, iuv_to_display

    person = pose_in_crop_frame(pose)
    iuv = iuv_to_display(render_iuv_from_pose(person, CROP_SIZE))
    canvas = (iuv.astype(np.float32) * 0.45).astype(np.uint8)
    out = draw_openpose(canvas, [person])
    import cv2

    w = round(height * CROP_SIZE[0] / CROP_SIZE[1])
    return cv2.resize(out, (w, height), interpolation=cv2.INTER_AREA)


# -------------------------------------------------------------- example photos
#: Example photos the demo may ship: name -> (loader, source, licence).
EXAMPLE_PHOTOS: dict[str, tuple[str, str, str]] = {
    "astronaut": (
        "skimage.data.astronaut",
        "scikit-image sample data: Eileen Collins, NASA Great Images database",
        "public domain (NASA; no known copyright restrictions)",
    ),
    "cameraman": (
        "skimage.data.camera",
        "scikit-image sample data (since 0.18): photographer Lav Varshney",
        "CC0 (no copyright restrictions)",
    ),
}


def _example_array(name: str) -> np.ndarray:
    from skimage import data

    if name == "astronaut":
        return data.astronaut()
    if name == "cameraman":
        return np.stack([data.camera()] * 3, axis=-1)
    raise ValueError(f"unknown example photo {name!r}; choose one of {sorted(EXAMPLE_PHOTOS)}")


def write_example_photos(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the licensed example photos (:data:`EXAMPLE_PHOTOS`) as PNG files.

    They come from installed packages (scikit-image sample data), so the
    repository ships no photo of anyone.

    Args:
        directory: Output folder; default ``<tmp>/mcld_examples``.

    Returns:
        ``{name: path}``; existing files are reused.
    """
    from PIL import Image

    folder = Path(directory) if directory is not None else Path(tempfile.gettempdir()) / "mcld_examples"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in EXAMPLE_PHOTOS:
        path = folder / f"{name}.png"
        if not path.is_file():
            tmp = path.with_suffix(".tmp.png")
            Image.fromarray(_example_array(name)).save(tmp)
            tmp.replace(path)
        out[name] = path
    return out


def load_examples_dataset(repo_id: str | None = None) -> tuple[list[list[str]], str | None]:
    """Extra example pairs from a Hub dataset (``$MCLD_EXAMPLES_DATASET``).

    The dataset holds image files plus an optional ``pairs.csv`` (columns
    ``source,target``, paths relative to the dataset root); without it every
    two consecutive images form a pair.

    Args:
        repo_id: Dataset repo id; default ``$MCLD_EXAMPLES_DATASET`` (unset:
            nothing to load).

    Returns:
        ``(pairs, message)``: ``[[source_path, target_path], ...]`` and
        ``None``, or ``[]`` and one sentence saying why nothing was loaded
        (``message`` is ``None`` when no dataset is configured).
    """
    import csv

    repo_id = repo_id or os.environ.get("MCLD_EXAMPLES_DATASET") or None
    if not repo_id:
        return [], None
    try:
        from huggingface_hub import snapshot_download

        root = Path(
            snapshot_download(
                repo_id, repo_type="dataset", allow_patterns=["*.png", "*.jpg", "*.jpeg", "*.webp", "pairs.csv"]
            )
        )
    except Exception as err:  # offline, private, missing: the demo goes on without them
        return [], f"Extra examples from dataset '{repo_id}' are unavailable ({type(err).__name__})."
    pairs: list[list[str]] = []
    csv_path = root / "pairs.csv"
    if csv_path.is_file():
        with csv_path.open(newline="") as f:
            for row in csv.DictReader(f):
                s, t = root / row.get("source", ""), root / row.get("target", "")
                if s.is_file() and t.is_file():
                    pairs.append([str(s), str(t)])
    else:
        images = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
        pairs = [[str(a), str(b)] for a, b in zip(images[0::2], images[1::2])]
    if not pairs:
        return [], f"Dataset '{repo_id}' has no usable example pairs."
    return pairs, None
