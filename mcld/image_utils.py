"""The one image boundary of :mod:`mcld`: files, bytes and arrays in, clean RGB out.

Every image a visitor gives us passes through :func:`load_image` before any
model touches it. It applies the EXIF orientation, flattens transparency onto
white, converts CMYK / 16-bit / palette / greyscale to 8-bit RGB, takes the first
frame of an animation, refuses files that are empty, corrupt, not images, too
small or absurdly large, and downscales big photos so that the longer side is
at most ``max_side`` pixels.

Conventions used across the package (see ``STYLE.md``):

* PIL images are RGB, 8 bit.
* NumPy images are ``(H, W, 3)`` ``uint8`` RGB unless a name says ``bgr``.
* Torch images are ``(B, 3, H, W)`` ``float32`` in ``[0, 1]`` unless stated.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputImageError

__all__ = [
    "ImageInput",
    "MAX_FILE_BYTES",
    "MAX_INPUT_PIXELS",
    "DEFAULT_MAX_SIDE",
    "MIN_SIDE",
    "load_image",
    "to_numpy_rgb",
]

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray]

#: Largest file accepted, in bytes (the app sets the same ``max_file_size``).
MAX_FILE_BYTES = 25 * 1024 * 1024
#: Largest decoded image accepted, in pixels (width * height); larger files are
#: refused before decoding (decompression-bomb guard).
MAX_INPUT_PIXELS = 80_000_000
#: Longer side, in pixels, that photos are downscaled to before any model runs.
DEFAULT_MAX_SIDE = 1024
#: Shorter side, in pixels, below which an image is refused as too small.
MIN_SIDE = 32


def _open(src: ImageInput) -> Image.Image:
    """Open ``src`` lazily as a PIL image, raising :class:`InputImageError`."""
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
        if not data:
            raise InputImageError("The uploaded file is empty.")
        if len(data) > MAX_FILE_BYTES:
            raise InputImageError(
                f"The file is too large ({len(data) / 2**20:.0f} MB); the limit is {MAX_FILE_BYTES // 2**20} MB."
            )
        fh: io.IOBase | Path = io.BytesIO(data)
        head = data[:16]
        name = "upload"
    elif isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            raise InputImageError("The image file could not be found.", detail=str(path))
        size = path.stat().st_size
        if size == 0:
            raise InputImageError("The uploaded file is empty.", detail=str(path))
        if size > MAX_FILE_BYTES:
            raise InputImageError(
                f"The file is too large ({size / 2**20:.0f} MB); the limit is {MAX_FILE_BYTES // 2**20} MB.",
                detail=str(path),
            )
        with open(path, "rb") as probe:
            head = probe.read(16)
        fh = path  # PIL opens and closes the file itself
        name = path.name
    else:
        raise InputImageError("This input is not an image.", detail=f"type {type(src).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        if isinstance(err, UnidentifiedImageError):
            if _looks_like_image(head):
                raise InputImageError(_DAMAGED, detail=f"{name}: {err}") from err
            raise InputImageError("This file is not an image we can read (use a JPEG, PNG or WebP photo).", detail=name) from err
        raise InputImageError(_TOO_MANY_PIXELS, detail=f"{name}: {err}") from err
    except OSError as err:
        raise InputImageError(_DAMAGED, detail=f"{name}: {err}") from err
    return img


#: File signatures of the formats PIL reads most often: a file that starts like
#: an image but cannot be opened is reported as damaged, not as "not an image".
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
)
_DAMAGED = "The image file is damaged or truncated and cannot be read."
_TOO_MANY_PIXELS = (
    f"The image is too large (over {MAX_INPUT_PIXELS // 1_000_000} megapixels); please upload a smaller photo."
)


def _looks_like_image(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) is a known image signature."""
    if head.startswith(_IMAGE_MAGIC):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.size == 0:
        raise InputImageError("The image is empty.")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all():
                raise InputImageError("The image contains invalid (NaN or infinite) values.")
            scale = 255.0 if arr.max() <= 1.0 else 1.0
            arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
        elif arr.dtype == np.uint16:
            arr = (arr >> 8).astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return Image.fromarray(arr, "L")
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        if arr.shape[2] == 1:
            return Image.fromarray(arr[:, :, 0], "L")
        return Image.fromarray(arr, "RGB" if arr.shape[2] == 3 else "RGBA")
    raise InputImageError("This array is not an image.", detail=f"shape {arr.shape}")


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; transparency is flattened onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        arr = arr / (65535.0 if hi > 255 else 255.0) * 255.0
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        arr = arr * (255.0 if arr.max() <= 1.0 else 1.0)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def load_image(
    src: ImageInput,
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    min_side: int = MIN_SIDE,
) -> Image.Image:
    """Load any user image as a clean, bounded 8-bit RGB PIL image.

    Args:
        src: A file path, raw file bytes, a PIL image, or a NumPy array
            (``(H, W)``, ``(H, W, 1|3|4)``; ``uint8``, ``uint16`` or float in
            ``[0, 1]`` / ``[0, 255]``).
        max_side: Longer side, in pixels, to downscale to (Lanczos, aspect
            kept). ``None`` keeps the size.
        min_side: Shorter side, in pixels, below which the image is refused.

    Returns:
        ``PIL.Image.Image`` in mode ``"RGB"``, EXIF orientation applied, first
        frame of animations, transparency flattened onto white.

    Raises:
        InputImageError: empty, unreadable, corrupt or truncated file; not an
            image; more than :data:`MAX_FILE_BYTES` bytes or
            :data:`MAX_INPUT_PIXELS` pixels; shorter side below ``min_side``.

    Source:
        Our own; EXIF handling as in detectron2 ``detection_utils.read_image``
        (``ImageOps.exif_transpose``).
    """
    img = _open(src)
    try:
        w, h = img.size
        if w * h > MAX_INPUT_PIXELS:
            raise InputImageError(_TOO_MANY_PIXELS, detail=f"{w}x{h} pixels")
        if getattr(img, "is_animated", False):
            img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img) or img
        img = _to_rgb(img)
    except InputImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise InputImageError(_DAMAGED, detail=str(err)) from err
    w, h = img.size
    if min(w, h) < min_side:
        raise InputImageError(
            f"The image is too small ({w}x{h} pixels); please use a photo at least {min_side} pixels on each side."
        )
    if max_side is not None and max(w, h) > max_side:
        scale = max_side / max(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return img


def to_numpy_rgb(img: Image.Image | np.ndarray) -> np.ndarray:
    """Return ``(H, W, 3)`` ``uint8`` RGB for a PIL image or array (no resizing).

    Raises:
        InputImageError: the array cannot be read as an image.
    """
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return img
    pil = _to_rgb(_from_array(img) if isinstance(img, np.ndarray) else img)
    return np.asarray(pil, dtype=np.uint8)
