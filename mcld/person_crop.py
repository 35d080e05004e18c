"""Crop a person out of a photo at the DeepFashion aspect, without stretching.

MCLD was trained on DeepFashion In-shop photos, which are 176 x 256 pixels
(width : height = 176 : 256 = 0.6875), person centred, head near the top. The
upstream data loader squashes every photo to 512 x 512, so a photo of another
aspect must first be brought to 176 : 256, or the body is distorted twice
(here, and again when the output is shown). :func:`crop_person` does this with a
single uniform scale, and frames the person as DeepFashion frames them: the
body (the person box, i.e. the whole silhouette) spans
:data:`DEEPFASHION_BODY_TOP` .. :data:`DEEPFASHION_BODY_BOTTOM` of the crop
height, centred left to right; a body too wide for that height is fitted by
its width instead (never stretched). An edge of the box that lies on the
photo's top or bottom edge is a cut (feet or head out of frame): the window
stops there and keeps what the photo shows. The parts of the window outside
the photo are padded (white by default, like the DeepFashion studio
background, or the replicated edge colour).

Coordinate convention used across :mod:`mcld` (also by
:mod:`mcld.annotators.mediapipe_pose`): *pixel coordinates* are continuous,
``x`` to the right and ``y`` down, with the centre of pixel column ``i`` at
``x = i + 0.5``; normalised coordinates are pixel coordinates divided by
``(W, H)``. A 2x3 affine ``A`` maps a pixel point ``p`` of one frame to
``A[:, :2] @ p + A[:, 2]`` in the other. :func:`warp_image` turns such an
affine into the index-based one OpenCV expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

__all__ = [
    "DEEPFASHION_ASPECT",
    "DEEPFASHION_BODY_TOP",
    "DEEPFASHION_BODY_BOTTOM",
    "DEEPFASHION_BODY_SIDE",
    "body_span",
    "CropInfo",
    "crop_person",
    "crop_image",
    "crop_label_image",
    "crop_keypoints",
    "uncrop_keypoints",
    "uncrop_image",
    "warp_image",
]

#: Width / height of DeepFashion In-shop photos (176 x 256 pixels).
DEEPFASHION_ASPECT = 176.0 / 256.0

#: Where the body starts and ends in MCLD's training photos, as fractions of
#: the image height: the means over the three real DeepFashion DensePose IUVs
#: in ``shared/poses`` (``fashionWOMEN{Blouses_Shirts,Dresses,Skirts}...``,
#: detectron2 ``R_101_FPN_DL_s1x`` predictions): top 0.20 / 0.78 / 0.78 %,
#: bottom 97.85 / 99.22 / 99.02 % (first and one-past-last body row over the
#: height). ``tests/test_person_crop.py`` re-measures them from those files.
DEEPFASHION_BODY_TOP = 0.0059
#: See :data:`DEEPFASHION_BODY_TOP`.
DEEPFASHION_BODY_BOTTOM = 0.9870
#: Least free space left and right of a body that is fitted by its width, as a
#: fraction of the crop width (our choice: the IUVs' bodies leave 7.5-29 %).
DEEPFASHION_BODY_SIDE = 0.02

PadMode = Literal["white", "edge", "black"]


@dataclass(frozen=True)
class CropInfo:
    """How a crop relates to the photo it was cut from.

    A point ``(x, y)`` in photo pixels maps to crop pixels as
    ``((x - x0) * scale, (y - y0) * scale)``; :attr:`affine` is the same map.

    Attributes:
        x0: Left edge of the crop window in photo pixels (may be negative:
            padding on the left).
        y0: Top edge of the crop window in photo pixels (may be negative).
        window_width: Width of the crop window in photo pixels (float).
        window_height: Height of the crop window in photo pixels (float).
        scale: Crop pixels per photo pixel (same on both axes: no stretching).
        out_size: ``(width, height)`` of the crop in pixels.
        image_size: ``(width, height)`` of the photo in pixels.
        pad: How the outside of the photo was filled: ``"white"``, ``"edge"``
            (replicated border pixels) or ``"black"``.
    """

    x0: float
    y0: float
    window_width: float
    window_height: float
    scale: float
    out_size: tuple[int, int]
    image_size: tuple[int, int]
    pad: str = "white"

    @property
    def affine(self) -> np.ndarray:
        """``(2, 3)`` float64 affine from photo pixels to crop pixels."""
        s = self.scale
        return np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0]], dtype=np.float64)

    @property
    def inverse_affine(self) -> np.ndarray:
        """``(2, 3)`` float64 affine from crop pixels back to photo pixels."""
        s = 1.0 / self.scale
        return np.array([[s, 0.0, self.x0], [0.0, s, self.y0]], dtype=np.float64)


def _check_box(box: Sequence[float], image_size: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,) or not np.isfinite(arr).all():
        raise ValueError(f"box must be 4 finite numbers (x0, y0, x1, y1) in pixels, got {box!r}")
    x0, y0, x1, y1 = arr
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box must have x1 > x0 and y1 > y0, got {box!r}")
    w, h = image_size
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise ValueError(f"box {box!r} lies outside the {w}x{h} image")
    return arr


def crop_person(
    image: np.ndarray,
    box: Sequence[float],
    *,
    out_height: int = 512,
    aspect: float = DEEPFASHION_ASPECT,
    margin: float | None = None,
    pad: PadMode = "white",
) -> tuple[np.ndarray, CropInfo]:
    """Crop and pad a photo around a person box to the DeepFashion aspect and framing.

    Default (``margin=None``), DeepFashion framing: the window height is chosen
    so that the box spans :data:`DEEPFASHION_BODY_TOP` ..
    :data:`DEEPFASHION_BODY_BOTTOM` of it, with the box's top at
    ``DEEPFASHION_BODY_TOP``. A box edge on the photo's top (``y0 <= 0.5``) or
    bottom (``y1 >= H - 0.5``) edge is a cut body: that fraction becomes 0
    (top) or 1 (bottom), so the window stops at the photo's edge. If the box
    is too wide for that window, the window is widened to leave
    :data:`DEEPFASHION_BODY_SIDE` free on each side and heightened to the
    aspect, the box centred in the vertical band. The window is centred on
    the box horizontally.

    With a ``margin`` (the former rule): the box is grown by ``margin *
    box_height`` on every side, then widened *or* heightened about its centre
    to the aspect.

    The window is resampled with one uniform scale to ``(round(out_height *
    aspect), out_height)`` pixels (area interpolation when shrinking,
    bilinear when enlarging).

    Args:
        image: ``(H, W, 3)`` uint8 RGB photo.
        box: Person box ``(x0, y0, x1, y1)`` in photo pixels (XYXY, e.g.
            :attr:`mcld.annotators.mediapipe_pose.PersonPose.box`, the whole
            silhouette).
        out_height: Height of the crop in pixels (512 for MCLD; width is
            ``round(out_height * aspect)``, 352 for the default).
        aspect: Target width / height; default 176 / 256 (DeepFashion).
        margin: ``None`` for DeepFashion framing, or extra space around the
            box as a fraction of the box height (symmetric, former rule).
        pad: Fill for the parts of the window outside the photo: ``"white"``
            (255, like DeepFashion's studio background), ``"edge"`` (replicate
            the nearest border pixel) or ``"black"``.

    Returns:
        ``(crop, info)``: ``crop`` is ``(out_height, round(out_height *
        aspect), 3)`` uint8 RGB; ``info`` is the :class:`CropInfo` mapping
        photo pixels to crop pixels.

    Raises:
        ValueError: ``image`` is not ``(H, W, 3)`` uint8, the box is
            malformed or outside the image, or ``out_height``, ``aspect`` or
            ``margin`` is out of range, or ``pad`` is unknown.

    Source:
        Our own; the 176 x 256 aspect is that of DeepFashion In-shop
        (Liu et al., CVPR 2016) as used by MCLD, the framing is measured on
        real DeepFashion DensePose IUVs (:data:`DEEPFASHION_BODY_TOP`).
    """
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {getattr(image, 'shape', type(image))}")
    if out_height < 8 or aspect <= 0 or (margin is not None and margin < 0):
        raise ValueError(f"need out_height >= 8, aspect > 0, margin None or >= 0; got {out_height}, {aspect}, {margin}")
    if pad not in ("white", "edge", "black"):
        raise ValueError(f"pad must be 'white', 'edge' or 'black', got {pad!r}")
    h, w = image.shape[:2]
    x0, y0, x1, y1 = _check_box(box, (w, h))
    out_w = max(1, int(round(out_height * aspect)))
    # Use the exact output aspect so that both axes share one scale.
    exact = out_w / out_height
    cx = (x0 + x1) / 2.0
    if margin is None:
        top = 0.0 if y0 <= 0.5 else DEEPFASHION_BODY_TOP
        bottom = 1.0 if y1 >= h - 0.5 else DEEPFASHION_BODY_BOTTOM
        bh = (y1 - y0) / (bottom - top)
        wy0 = y0 - top * bh
        if (x1 - x0) > bh * exact * (1.0 - 2 * DEEPFASHION_BODY_SIDE):
            bh = (x1 - x0) / (1.0 - 2 * DEEPFASHION_BODY_SIDE) / exact
            wy0 = (y0 + y1) / 2.0 - bh * (top + bottom) / 2.0
        bw = bh * exact
    else:
        bw, bh = x1 - x0, y1 - y0
        m = margin * bh
        bw, bh = bw + 2 * m, bh + 2 * m
        if bw / bh < aspect:
            bw = bh * aspect
        else:
            bh = bw / aspect
        bw = bh * exact
        wy0 = (y0 + y1) / 2.0 - bh / 2.0
    info = CropInfo(
        x0=cx - bw / 2.0,
        y0=wy0,
        window_width=bw,
        window_height=bh,
        scale=out_height / bh,
        out_size=(out_w, out_height),
        image_size=(w, h),
        pad=pad,
    )
    return crop_image(image, info), info


def body_span(label: np.ndarray) -> tuple[float, float]:
    """Where a body starts and ends, as fractions of the image height.

    Args:
        label: ``(H, W)`` array, nonzero on the body (a DensePose part index
            channel, a parsing map or a person mask), or an ``(H, W, 3)``
            DensePose IUV ``(I, U*255, V*255)`` (channel 0 is used).

    Returns:
        ``(top, bottom)``: first body row / H and one past the last body row /
        H, floats in ``[0, 1]``; the body spans ``bottom - top`` of the height.

    Raises:
        ValueError: ``label`` has no body pixel or the wrong shape.

    Source:
        Our own (how :data:`DEEPFASHION_BODY_TOP` was measured).
    """
    arr = np.asarray(label)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"label must be (H, W) or (H, W, 3), got {np.asarray(label).shape}")
    rows = np.nonzero(arr.any(axis=1))[0]
    if rows.size == 0:
        raise ValueError("label has no body pixel")
    h = arr.shape[0]
    return float(rows[0] / h), float((rows[-1] + 1) / h)


def _border(pad: str, channels: int) -> tuple[int, tuple]:
    import cv2

    if pad == "edge":
        return cv2.BORDER_REPLICATE, (0,) * channels
    value = 255 if pad == "white" else 0
    return cv2.BORDER_CONSTANT, (value,) * channels


def warp_image(
    image: np.ndarray,
    affine: np.ndarray,
    out_size: tuple[int, int],
    *,
    nearest: bool = False,
    border: PadMode = "black",
) -> np.ndarray:
    """Resample an image with a pixel-coordinate affine (see module docstring).

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` uint8 (or float32) image.
        affine: ``(2, 3)`` affine from ``image`` pixel coordinates to output
            pixel coordinates (continuous, pixel centres at ``i + 0.5``).
        out_size: ``(width, height)`` of the output in pixels.
        nearest: Nearest-neighbour sampling; use it for label images (DensePose
            IUV, parsing maps) so that part indices are never blended.
            Otherwise bilinear, or area interpolation for a pure shrink.
        border: Fill outside the source: ``"black"`` (0), ``"white"`` (255)
            or ``"edge"``.

    Returns:
        Array of the input's dtype and channel count, ``(out_h, out_w[, C])``.

    Raises:
        ValueError: ``affine`` is not ``(2, 3)`` or ``out_size`` is not positive.

    Source:
        Our own (OpenCV ``warpAffine`` with a half-pixel correction).
    """
    import cv2

    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (2, 3):
        raise ValueError(f"affine must be (2, 3), got {a.shape}")
    out_w, out_h = int(out_size[0]), int(out_size[1])
    if out_w <= 0 or out_h <= 0:
        raise ValueError(f"out_size must be positive, got {out_size}")
    # Continuous map p' = L p + t; pixel indices q = p - 0.5 on both sides.
    lin = a[:, :2]
    t_idx = a[:, 2] + lin @ np.array([0.5, 0.5]) - 0.5
    a_idx = np.concatenate([lin, t_idx[:, None]], axis=1)
    channels = 1 if image.ndim == 2 else image.shape[2]
    mode, value = _border(border, channels)
    value = value if channels > 1 else value[0]
    if nearest:
        return cv2.warpAffine(image, a_idx, (out_w, out_h), flags=cv2.INTER_NEAREST, borderMode=mode, borderValue=value)
    scale = np.sqrt(abs(np.linalg.det(lin)))
    if scale < 0.8:
        # warpAffine has no area mode: pre-shrink with area averaging
        # (anti-aliased), then warp the small image with the remaining map.
        h, w = image.shape[:2]
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        pre = np.diag([sw / w, sh / h])
        lin = lin @ np.linalg.inv(pre)
        t_idx = a[:, 2] + lin @ np.array([0.5, 0.5]) - 0.5
        a_idx = np.concatenate([lin, t_idx[:, None]], axis=1)
    return cv2.warpAffine(image, a_idx, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=value)


def crop_image(image: np.ndarray, info: CropInfo, *, nearest: bool = False, pad: PadMode | None = None) -> np.ndarray:
    """Apply a crop to any image in the same frame as the cropped photo.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array with the photo's ``(H, W)``.
        info: The :class:`CropInfo` returned by :func:`crop_person`.
        nearest: Nearest-neighbour sampling (for label images).
        pad: Fill outside the photo; defaults to ``info.pad``.

    Returns:
        ``(out_h, out_w[, C])`` array of the input's dtype.

    Raises:
        ValueError: ``image`` does not have the photo's size.

    Source:
        Our own.
    """
    if image.shape[1] != info.image_size[0] or image.shape[0] != info.image_size[1]:
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, but the crop was made on a {info.image_size[0]}x{info.image_size[1]} photo")
    return warp_image(image, info.affine, info.out_size, nearest=nearest, border=pad or info.pad)


def crop_label_image(label: np.ndarray, info: CropInfo) -> np.ndarray:
    """Crop a label image (DensePose IUV ``(H, W, 3)`` uint8 in (I, U*255,
    V*255) order, or an ``(H, W)`` parsing map) with nearest-neighbour
    sampling and zero (background) padding.

    Raises:
        ValueError: ``label`` does not have the photo's size.

    Source:
        Our own.
    """
    return crop_image(label, info, nearest=True, pad="black")


def crop_keypoints(points: np.ndarray, info: CropInfo) -> np.ndarray:
    """Map ``(..., 2)`` photo pixel coordinates to crop pixel coordinates.

    Returns:
        ``(..., 2)`` float64 crop pixel coordinates (may lie outside the crop).

    Source:
        Our own.
    """
    p = np.asarray(points, dtype=np.float64)
    return (p - np.array([info.x0, info.y0])) * info.scale


def uncrop_keypoints(points: np.ndarray, info: CropInfo) -> np.ndarray:
    """Map ``(..., 2)`` crop pixel coordinates back to photo pixel coordinates.

    Source:
        Our own.
    """
    p = np.asarray(points, dtype=np.float64)
    return p / info.scale + np.array([info.x0, info.y0])


def uncrop_image(crop: np.ndarray, info: CropInfo, *, nearest: bool = False) -> np.ndarray:
    """Resample an image in the crop frame back onto the photo frame.

    Pixels of the photo outside the crop window are 0.

    Args:
        crop: ``(out_h, out_w[, C])`` array in the crop frame, or any size with
            the crop's aspect (it is first scaled to ``info.out_size``).
        info: The crop's :class:`CropInfo`.
        nearest: Nearest-neighbour sampling (label images).

    Returns:
        ``(H, W[, C])`` array with the photo's size.

    Source:
        Our own.
    """
    import cv2

    if (crop.shape[1], crop.shape[0]) != info.out_size:
        crop = cv2.resize(crop, info.out_size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    return warp_image(crop, info.inverse_affine, info.image_size, nearest=nearest, border="black")
