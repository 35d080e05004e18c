"""Gallery entries: what a gallery pose is, how it is stored, how it is named.

Three kinds of entry (``kind`` in the JSON file):

* ``"densepose"``: a **real DensePose IUV** (detectron2's
  ``densepose_rcnn_R_101_FPN_DL_s1x``, the model MCLD was trained with),
  stored as a PNG next to the JSON (``assets/poses/``, with its licence). Used
  as it is: the PNG's frame is a DeepFashion photo frame, so it is only padded
  to the 352 x 512 crop frame, never re-cropped.
* ``"photo"``: a pose from a licensed photo. Its real IUV is computed by our
  DensePose with the real weights once, at start-up
  (:func:`mcld.gallery.precompute_gallery_iuvs`, cached on disk). Until then,
  and in tiny mode or without DensePose weights, it falls back to the
  skeleton stored with it, labelled.
* ``"skeleton"``: a hand-made COCO-18 skeleton (``examples/poses/``); its IUV
  is drawn by :func:`mcld.gallery.skeleton.render_iuv_from_pose`, an
  approximation, labelled :data:`SKELETON_IUV_NOTE`.

File format (``*.json``; ``examples/make_poses.py`` writes the skeleton ones)::

    {
      "name": "t_pose",                 # API name: lowercase, digits, "_"
      "label": "T-pose",                # shown on the page
      "kind": "skeleton",               # "densepose" | "photo" | "skeleton" (default)
      "source": "hand-made",            # provenance
      "licence": "...",                 # optional
      # densepose:
      "iuv": "<file>.png",              # next to the JSON; upstream MCLD's IUV PNG format
      # photo and skeleton:
      "image_size": [352, 512],         # (width, height) pixels
      "keypoints": [[x, y], ...],       # 18 x 2, normalised to [0, 1], COCO-18 order
      "visibility": [v, ...],           # 18 values in [0, 1]
      "box": [x0, y0, x1, y1],          # person box, pixels (optional)
      # photo:
      "photo": "<file>"                 # next to the JSON
    }

A pose is found by its API name or its label, case-insensitively and
ignoring punctuation (``"T-pose"``, ``"t_pose"`` and ``"T pose"`` are the same
pose): :func:`find_gallery_pose`; an unknown name raises
:class:`GalleryPoseError` listing the valid ones.

Source:
    Our own.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import MCLDError
from .skeleton import SKELETON_IUV_NOTE

__all__ = [
    "GALLERY_DIR",
    "DENSEPOSE_POSES_DIR",
    "DEFAULT_GALLERY_DIRS",
    "GALLERY_KINDS",
    "REAL_IUV_NOTE",
    "SKELETON_IUV_NOTE",
    "APPROXIMATE_IUV_NOTE",
    "GalleryPose",
    "GalleryPoseError",
    "load_gallery",
    "load_gallery_pose",
    "save_gallery_pose",
    "find_gallery_pose",
    "gallery_caption",
    "gallery_pose_to_person",
    "pose_in_crop_frame",
    "frame_iuv",
]

_ROOT = Path(__file__).resolve().parents[2]
#: Hand-made skeleton poses (repository ``examples/poses``).
GALLERY_DIR = _ROOT / "examples" / "poses"
#: Real DensePose IUV poses with their licence (repository ``assets/poses``).
DENSEPOSE_POSES_DIR = _ROOT / "assets" / "poses"
#: What :func:`load_gallery` reads by default, in this order.
DEFAULT_GALLERY_DIRS = (DENSEPOSE_POSES_DIR, GALLERY_DIR)

GALLERY_KINDS = ("densepose", "photo", "skeleton")

#: What an entry with a real DensePose IUV is called on the page.
REAL_IUV_NOTE = "real DensePose"
#: The note a target drawn from a skeleton carries (starts with "pose-only").
APPROXIMATE_IUV_NOTE = f"pose-only: IUV {SKELETON_IUV_NOTE}"

_NAME_RE = re.compile(r"^[a-z0-9_]+$")


class GalleryPoseError(MCLDError, ValueError):
    """A gallery pose name that is not in the gallery (the message lists the
    valid names).

    Source:
        Our own.
    """


@dataclass
class GalleryPose:
    """One gallery entry.

    Attributes:
        name: API name (lowercase letters, digits, ``_``; the file stem).
        label: Name on the page.
        keypoints: ``(18, 2)`` float32 ``(x, y)`` normalised to ``[0, 1]`` by
            ``image_size``, COCO-18 order (all zero with zero visibility for a
            ``"densepose"`` entry, which has no skeleton).
        visibility: ``(18,)`` float32 in ``[0, 1]``.
        image_size: ``(width, height)`` pixels of the frame the pose lives in.
        box: ``(4,)`` float32 XYXY person box in pixels of that frame.
        source: Where the pose comes from.
        kind: ``"densepose"``, ``"photo"`` or ``"skeleton"`` (module docstring).
        iuv: ``(512, 352, 3)`` uint8 ``(I, U*255, V*255)`` real DensePose IUV
            in the crop frame, or ``None`` (then the skeleton is drawn).
        iuv_pose: The :class:`~mcld.annotators.mediapipe_pose.PersonPose`
            that goes with ``iuv``, in crop pixels (its box is the body's), or
            ``None``.
        photo: Path of the photo (``"photo"`` entries), else ``None``.
        licence: Licence of the stored data.
        iuv_model: Which DensePose model made ``iuv`` (a model id), if known.
        notes: Sentences for the user (e.g. why a photo entry fell back to
            its skeleton).

    Source:
        Our own.
    """

    name: str
    label: str
    keypoints: np.ndarray
    visibility: np.ndarray
    image_size: tuple[int, int]
    box: np.ndarray
    source: str = "hand-made"
    kind: str = "skeleton"
    iuv: np.ndarray | None = None
    iuv_pose: object | None = None
    photo: str | None = None
    licence: str = ""
    iuv_model: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def real_iuv(self) -> bool:
        """Whether the target is a real DensePose IUV (else drawn from the skeleton)."""
        return self.iuv is not None

    @property
    def iuv_note(self) -> str:
        """:data:`REAL_IUV_NOTE` or :data:`SKELETON_IUV_NOTE`."""
        return REAL_IUV_NOTE if self.real_iuv else SKELETON_IUV_NOTE


def gallery_caption(pose: GalleryPose) -> str:
    """Thumbnail caption: the label and what the IUV is, e.g.
    ``"T-pose · drawn from a skeleton (approximate)"`` or
    ``"DeepFashion: standing · real DensePose"``.

    Source:
        Our own.
    """
    return f"{pose.label} · {pose.iuv_note}"


def _box_from_keypoints(keypoints_px: np.ndarray, visible: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    pts = keypoints_px[visible] if visible.any() else keypoints_px
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    h = max(y1 - y0, 1.0)
    # Head top above the eyes/nose and feet below the ankles.
    box = np.array([x0 - 0.12 * h, y0 - 0.12 * h, x1 + 0.12 * h, y1 + 0.06 * h], np.float32)
    w_img, h_img = image_size
    return np.clip(box, [0, 0, 0, 0], [w_img, h_img, w_img, h_img]).astype(np.float32)


def _body_box(iuv: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(iuv[..., 0])
    if len(xs) == 0:
        raise ValueError("the IUV has no body pixels (channel 0 is all background)")
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def frame_iuv(iuv: np.ndarray):
    """Bring a real IUV of a whole photo frame into the 352 x 512 crop frame.

    The whole frame is the window (no re-crop around the body: the frame is
    already a DeepFashion person frame, body at 97.5-98.2 % of its height):
    one uniform scale fits it into the crop (``min(352 / W, 512 / H)``),
    centred, nearest-neighbour, background outside. A 348 x 512 DeepFashion
    IUV gets 2 background columns on each side and is otherwise copied pixel
    for pixel.

    Args:
        iuv: ``(H, W, 3)`` uint8 ``(I, U*255, V*255)``.

    Returns:
        ``(crop_iuv, pose)``: ``(512, 352, 3)`` uint8, and a
        :class:`~mcld.annotators.mediapipe_pose.PersonPose` in crop pixels with
        no visible keypoints and the body's box (what alignment uses).

    Raises:
        ValueError: not an IUV image, or no body pixels.

    Source:
        Our own.
    """
    from ..annotators.densepose.iuv import check_iuv
    from ..annotators.mediapipe_pose import PersonPose
    from ..person_crop import warp_image
    from ..pose_transfer import CROP_SIZE

    check_iuv(iuv)
    h, w = iuv.shape[:2]
    out_w, out_h = CROP_SIZE
    s = min(out_w / w, out_h / h)
    affine = np.array([[s, 0.0, (out_w - s * w) / 2.0], [0.0, s, (out_h - s * h) / 2.0]], np.float64)
    crop = warp_image(iuv, affine, CROP_SIZE, nearest=True, border="black")
    pose = PersonPose(
        keypoints=np.zeros((18, 2), np.float32),
        visibility=np.zeros(18, np.float32),
        box=_body_box(crop),
        score=1.0,
        image_size=tuple(CROP_SIZE),
    )
    return crop, pose


def _skeleton_fields(data: dict, path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int], np.ndarray]:
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
    return kps, vis, size, box  # type: ignore[return-value]


def load_gallery_pose(path: str | os.PathLike) -> GalleryPose:
    """Read one gallery JSON file (format in the module docstring).

    Args:
        path: The ``.json`` file. A ``"densepose"`` entry's IUV PNG (and a
            ``"photo"`` entry's photo) is looked up next to it.

    Returns:
        :class:`GalleryPose`; a ``"densepose"`` entry has its ``iuv`` in the
        crop frame.

    Raises:
        ValueError: an unknown kind, a bad name, missing or malformed fields,
            a missing IUV or photo file, or an IUV PNG not in MCLD's format.

    Source:
        Our own.
    """
    from ..annotators.densepose.iuv import read_iuv_png

    path = Path(path)
    data = json.loads(path.read_text())
    name = str(data.get("name", path.stem))
    if not _NAME_RE.match(name):
        raise ValueError(f"{path}: 'name' must be lowercase letters, digits and '_', got {name!r}")
    kind = str(data.get("kind", "skeleton"))
    if kind not in GALLERY_KINDS:
        raise ValueError(f"{path}: 'kind' must be one of {GALLERY_KINDS}, got {kind!r}")
    common = dict(
        name=name,
        label=str(data.get("label", name.replace("_", " "))),
        source=str(data.get("source", "hand-made")),
        kind=kind,
        licence=str(data.get("licence", "")),
    )
    if kind == "densepose":
        iuv_file = path.parent / str(data.get("iuv", ""))
        if not data.get("iuv") or not iuv_file.is_file():
            raise ValueError(f"{path}: 'iuv' must name an IUV PNG next to it; {iuv_file} does not exist")
        raw = read_iuv_png(iuv_file)
        crop, crop_pose = frame_iuv(raw)
        h, w = raw.shape[:2]
        return GalleryPose(
            keypoints=np.zeros((18, 2), np.float32),
            visibility=np.zeros(18, np.float32),
            image_size=(w, h),
            box=_body_box(raw),
            iuv=crop,
            iuv_pose=crop_pose,
            iuv_model=str(data.get("model", "")) or None,
            **common,
        )
    kps, vis, size, box = _skeleton_fields(data, path)
    photo = None
    if kind == "photo":
        photo_file = path.parent / str(data.get("photo", ""))
        if not data.get("photo") or not photo_file.is_file():
            raise ValueError(f"{path}: 'photo' must name a photo next to it; {photo_file} does not exist")
        photo = str(photo_file)
    return GalleryPose(keypoints=kps, visibility=vis, image_size=size, box=box, photo=photo, **common)  # type: ignore[arg-type]


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def load_gallery(directory: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> list[GalleryPose]:
    """All gallery poses of one or more folders.

    Args:
        directory: A folder of ``*.json`` entries, several folders, or
            ``None`` for :data:`DEFAULT_GALLERY_DIRS` (real DensePose poses
            first, then the skeletons). Missing folders are skipped.

    Returns:
        :class:`GalleryPose` list: folder by folder, each sorted by file name.

    Raises:
        ValueError: a malformed entry (see :func:`load_gallery_pose`), or two
            entries whose names or labels collide (:func:`find_gallery_pose`
            could not tell them apart).

    Source:
        Our own.
    """
    if directory is None:
        folders: Iterable = DEFAULT_GALLERY_DIRS
    elif isinstance(directory, (str, os.PathLike)):
        folders = [directory]
    else:
        folders = directory
    poses = [
        load_gallery_pose(p) for folder in folders if Path(folder).is_dir() for p in sorted(Path(folder).glob("*.json"))
    ]
    seen: dict[str, str] = {}
    for pose in poses:
        for key in {_key(pose.name), _key(pose.label)}:
            if key in seen and seen[key] != pose.name:
                raise ValueError(f"gallery poses {seen[key]!r} and {pose.name!r} share the name or label {key!r}")
            seen[key] = pose.name
    return poses


def find_gallery_pose(gallery: Sequence[GalleryPose], name: str | None) -> GalleryPose:
    """The gallery pose called ``name``: its API name or its label,
    case-insensitively, punctuation and spaces ignored.

    Args:
        gallery: The entries (:func:`load_gallery`).
        name: e.g. ``"t_pose"``, ``"T-pose"`` or ``"t pose"``.

    Returns:
        The :class:`GalleryPose`.

    Raises:
        GalleryPoseError: empty or unknown name; the message lists every valid
            API name with its label.

    Source:
        Our own.
    """
    key = _key(name or "")
    if key:
        for pose in gallery:
            if key in (_key(pose.name), _key(pose.label)):
                return pose
    valid = ", ".join(f"{p.name} ({p.label})" for p in gallery)
    what = f"Unknown gallery pose {name!r}." if key else "No gallery pose was chosen."
    raise GalleryPoseError(f"{what} Valid names: {valid}.")


def save_gallery_pose(
    pose, path: str | os.PathLike, *, label: str | None = None, source: str = "hand-made", kind: str = "skeleton",
    photo: str | None = None,
) -> Path:
    """Write a :class:`~mcld.annotators.mediapipe_pose.PersonPose` (or a
    :class:`GalleryPose`) as a ``"skeleton"`` or ``"photo"`` gallery JSON file.

    Args:
        pose: The pose (keypoints normalised to its ``image_size``).
        path: Output ``.json`` path; its stem becomes the pose's API name.
        label: Page label (default: the stem with spaces).
        source: Provenance string stored in the file.
        kind: ``"skeleton"`` or ``"photo"``.
        photo: For ``"photo"``: the photo's file name, next to ``path``.

    Returns:
        The written path.

    Raises:
        ValueError: another kind, or a ``"photo"`` entry without ``photo``.

    Source:
        Our own.
    """
    if kind not in ("skeleton", "photo") or (kind == "photo" and not photo):
        raise ValueError(f"save_gallery_pose writes 'skeleton' or 'photo' entries (photo needs a file), got {kind!r}")
    path = Path(path)
    data = {
        "name": path.stem,
        "label": label or path.stem.replace("_", " "),
        "kind": kind,
        "image_size": [int(v) for v in pose.image_size],
        "keypoints": np.round(np.asarray(pose.keypoints, np.float64), 4).tolist(),
        "visibility": np.round(np.asarray(pose.visibility, np.float64), 3).tolist(),
        "box": np.round(np.asarray(pose.box, np.float64), 1).tolist(),
        "source": source,
    }
    if photo:
        data["photo"] = photo
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def gallery_pose_to_person(pose: GalleryPose):
    """The gallery pose's skeleton as a :class:`~mcld.annotators.mediapipe_pose.PersonPose`.

    Args:
        pose: A :class:`GalleryPose`.

    Returns:
        ``PersonPose`` with copies of its keypoints (``(18, 2)`` in ``[0, 1]``),
        visibility and box (pixels of ``pose.image_size``), score 1.

    Source:
        Our own.
    """
    from ..annotators.mediapipe_pose import PersonPose

    return PersonPose(
        keypoints=pose.keypoints.copy(),
        visibility=pose.visibility.copy(),
        box=pose.box.copy(),
        score=1.0,
        image_size=tuple(pose.image_size),
    )


def pose_in_crop_frame(pose: GalleryPose):
    """The gallery pose in the 352 x 512 person-crop frame the model uses.

    An entry with a real IUV returns the pose that goes with it
    (:attr:`GalleryPose.iuv_pose`); a skeleton is moved with the same window
    rule as :func:`mcld.person_crop.crop_person` on its box.

    Returns:
        :class:`~mcld.annotators.mediapipe_pose.PersonPose` in crop pixels.

    Source:
        Our own.
    """
    if pose.iuv_pose is not None:
        return pose.iuv_pose.copy()
    from ..annotators.mediapipe_pose import transform_pose
    from ..person_crop import crop_person
    from ..pose_transfer import CROP_SIZE

    w, h = pose.image_size
    blank = np.zeros((h, w, 3), np.uint8)
    _, info = crop_person(blank, pose.box, out_height=CROP_SIZE[1], aspect=CROP_SIZE[0] / CROP_SIZE[1])
    return transform_pose(gallery_pose_to_person(pose), info.affine, info.out_size)
