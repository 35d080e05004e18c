"""Upstream MCLD's per-part UV texture template (``texture_bg_200.png``).

Upstream fills the holes of each DensePose atlas part only inside a fixed
per-part region: the non-black texels of ``preprocess_data/texture_bg_200.png``
(a 1200 x 800 grey image, 6 rows x 4 columns of 200 x 200 blocks, part ``p``
in row block ``(p - 1) % 6`` and column block ``(p - 1) // 6``, in the
pre-transpose orientation: rows follow ``255 - V``, columns follow ``U``).
Which texels that region holds decides where upstream's Telea fill reaches,
so a bit-exact texture map needs this very file.

The file is **never shipped with this package**: upstream's repository has no
licence, and the image derives from DensePose's CC BY-NC 4.0 texture atlas.
It is fetched at run time, like model weights, from upstream's repository at
a pinned commit (:data:`TEXTURE_TEMPLATE_URL`), checked against
:data:`TEXTURE_TEMPLATE_SHA256` and cached under
``mcld.weights.default_cache_dir() / "uv_texture"``
(:func:`ensure_texture_template`). Where it cannot be had (offline, empty
cache), :func:`load_texture_template` falls back to our rasterisation of
DensePose's ``UV_Processed.mat`` (:func:`~.texture.part_valid_masks`) and
marks the result ``approximate``.

Source:
    jqliu09/MCLD @ 6279ff7c601c11dff5e075410ed34df2973da088
    ``preprocess_data/texture_bg_200.png`` and how
    ``preprocess_data/texture_interface.py`` reads it (grey, split into 24
    blocks, non-zero = template); sha256 from
    ``shared/golden/texture_pws/README.md``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ...errors import CheckpointError
from ...hub_files import ChecksumMismatch, DownloadFailed, download_pinned, offline_requested

__all__ = [
    "TEXTURE_TEMPLATE_URL",
    "TEXTURE_TEMPLATE_SHA256",
    "TEXTURE_TEMPLATE_FILENAME",
    "APPROXIMATE_TEXTURE_NOTE",
    "TextureTemplate",
    "texture_template_path",
    "ensure_texture_template",
    "read_texture_template",
    "load_texture_template",
]

_log = logging.getLogger(__name__)

#: Commit-pinned raw URL of upstream's template (jqliu09/MCLD @ 6279ff7).
TEXTURE_TEMPLATE_URL = (
    "https://raw.githubusercontent.com/jqliu09/MCLD/6279ff7c601c11dff5e075410ed34df2973da088/"
    "preprocess_data/texture_bg_200.png"
)
#: sha256 of the file's bytes at that commit.
TEXTURE_TEMPLATE_SHA256 = "fc221ee00aa0886ca417a7486072da5c73332cdd522dc9e9a42e39799e4ed322"
#: File name in the cache folder.
TEXTURE_TEMPLATE_FILENAME = "texture_bg_200.png"
#: The note a result carries when the mesh-rasterised fallback template was used.
APPROXIMATE_TEXTURE_NOTE = "approximate texture map: upstream's template could not be fetched"

_MAX_BYTES = 8 * 1024 * 1024  # the real file is 33 kB
_FETCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextureTemplate:
    """Per-part region where the texture fill may paint.

    Attributes:
        mask: ``(24, S, S)`` bool, read-only, in the atlas axis convention of
            :mod:`mcld.annotators.uv_texture` (``mask[p - 1, i, j]``, ``i``
            from U, ``j`` from 1 - V); True = inside part ``p``'s template.
        approximate: True when this is the mesh-rasterised fallback, not
            upstream's ``texture_bg_200.png``: textures made with it are not
            upstream's (see :data:`APPROXIMATE_TEXTURE_NOTE`).
        source: Where it came from: a file path, or
            ``"UV_Processed.mat rasterisation"``.
    """

    mask: np.ndarray
    approximate: bool
    source: str

    @property
    def note(self) -> str | None:
        """:data:`APPROXIMATE_TEXTURE_NOTE` when approximate, else ``None``."""
        return APPROXIMATE_TEXTURE_NOTE if self.approximate else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def texture_template_path(cache_dir: Union[str, os.PathLike, None] = None) -> Path:
    """Where the template is cached (whether or not it is there).

    Args:
        cache_dir: Cache root; default ``mcld.weights.default_cache_dir()``
            (``$MCLD_CACHE`` or ``~/.cache/mcld``).

    Returns:
        ``<cache_dir>/uv_texture/texture_bg_200.png``.
    """
    if cache_dir is None:
        from ...weights import default_cache_dir

        cache_dir = default_cache_dir()
    return Path(cache_dir).expanduser() / "uv_texture" / TEXTURE_TEMPLATE_FILENAME


def ensure_texture_template(
    cache_dir: Union[str, os.PathLike, None] = None,
    *,
    local_files_only: bool | None = None,
    url: str = TEXTURE_TEMPLATE_URL,
    sha256: str = TEXTURE_TEMPLATE_SHA256,
    timeout: float = 10.0,
) -> Path | None:
    """Make sure upstream's ``texture_bg_200.png`` is in the cache; fetch it if not.

    Call it once at start-up (the Space does) so that no request waits for
    the download. A cached file is re-checked against ``sha256`` on every
    call (33 kB); a cached file that fails the check is deleted and fetched
    again.

    Args:
        cache_dir: Cache root (see :func:`texture_template_path`).
        local_files_only: Never download. ``None`` reads ``HF_HUB_OFFLINE`` /
            ``MCLD_OFFLINE`` (``1``/``true``/``yes``/``on``).
        url: Where to fetch it (default: upstream at the pinned commit).
        sha256: Expected sha256 (hex) of the file's bytes.
        timeout: Seconds for the connection and each read.

    Returns:
        Path of the checked file, or ``None`` when it is not cached and cannot
        be downloaded (offline, no network, HTTP error: logged as a warning).

    Raises:
        CheckpointError: the downloaded bytes do not have ``sha256`` (nothing
            is written to the cache).

    Source:
        URL and sha256: ``shared/golden/texture_pws/README.md`` (upstream
        jqliu09/MCLD @ 6279ff7).
    """
    target = texture_template_path(cache_dir)
    expected = sha256.lower()
    with _FETCH_LOCK:
        if target.is_file():
            if _sha256(target.read_bytes()) == expected:
                return target
            _log.warning("cached texture template %s fails its sha256 check; deleting it", target)
            target.unlink(missing_ok=True)
        if offline_requested(local_files_only):
            return None
        try:
            return download_pinned(url, expected, target, timeout=timeout, max_bytes=_MAX_BYTES)
        except DownloadFailed as err:  # HTTPError, timeouts, DNS, bad URL
            _log.warning("could not fetch the UV texture template from %s: %s", url, err.reason)
            return None
        except ChecksumMismatch as err:
            raise CheckpointError(
                "The UV texture template downloaded from upstream MCLD is corrupt, so the texture map "
                "cannot be made as upstream makes it.",
                detail=f"{url}: sha256 {err.got}, expected {expected}; the file was not kept",
            ) from None


# Memoises the decoded template masks (a read-only data table keyed by the
# file's path, mtime and size); it holds no model, so it may stay at module level.
@functools.lru_cache(maxsize=4)
def _decode_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    import cv2

    grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise CheckpointError("The UV texture template file cannot be read as an image.", detail=path)
    if grey.shape[0] % 6 or grey.shape[1] % 4 or grey.shape[0] // 6 != grey.shape[1] // 4:
        raise CheckpointError(
            "The UV texture template file has the wrong size.",
            detail=f"{path}: {grey.shape[1]}x{grey.shape[0]} (W x H); expected 4 S x 6 S, e.g. 800x1200",
        )
    s = grey.shape[0] // 6
    # Block (row r, column c) holds part 6 c + r + 1, in (255 - V rows, U columns):
    # transposed, it is in the atlas convention (rows from U, columns from 1 - V).
    blocks = grey.reshape(6, s, 4, s).transpose(2, 0, 3, 1).reshape(24, s, s)
    mask = np.ascontiguousarray(blocks > 0)
    mask.setflags(write=False)
    return mask


def read_texture_template(path: Union[str, os.PathLike]) -> np.ndarray:
    """Decode a template image into per-part masks.

    Read as grey (as upstream does: ``cv2.imread(path, 0)``); a texel is in the
    template where the grey value is > 0. Decoded once per file version.

    Args:
        path: A ``4 S x 6 S`` (W x H) image, e.g. ``texture_bg_200.png``
            (800 x 1200).

    Returns:
        ``(24, S, S)`` bool, read-only, atlas axis convention
        (``mask[p - 1, i, j]``, ``i`` from U, ``j`` from 1 - V).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not an image, or not ``4 S x 6 S``.

    Source:
        Upstream ``preprocess_data/texture_interface.py`` (module level: the
        template read as grey and split into 24 blocks, column-major).
    """
    p = Path(path).expanduser()
    st = p.stat()  # FileNotFoundError for a missing file
    return _decode_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


def load_texture_template(
    template: Union[TextureTemplate, str, os.PathLike, np.ndarray, None] = None,
    *,
    cache_dir: Union[str, os.PathLike, None] = None,
    local_files_only: bool | None = None,
    atlas_size: int = 200,
) -> TextureTemplate:
    """The template the upstream texture fill uses, with its provenance.

    Args:
        template: ``None``: upstream's file from the cache, fetched on first
            use (:func:`ensure_texture_template`); where it cannot be had, the
            ``UV_Processed.mat`` rasterisation (``approximate=True``). A path:
            that image file (not sha-checked: your file, your choice). A
            ``(24, S, S)`` bool array in the atlas convention (used as is,
            ``approximate=False``). A :class:`TextureTemplate`: returned as is.
        cache_dir: Cache root (see :func:`texture_template_path`).
        local_files_only: Never download (``None``: ``HF_HUB_OFFLINE`` /
            ``MCLD_OFFLINE``).
        atlas_size: ``S`` of the fallback rasterisation (upstream: 200).

    Returns:
        :class:`TextureTemplate`.

    Raises:
        ValueError: an array of the wrong shape or type.
        FileNotFoundError: a given path that does not exist.
        CheckpointError: an unreadable template file, or a download that
            fails its sha256 check.
    """
    if isinstance(template, TextureTemplate):
        return template
    if isinstance(template, np.ndarray):
        if template.ndim != 3 or template.shape[0] != 24 or template.shape[1] != template.shape[2]:
            raise ValueError(f"a template array must be (24, S, S) bool, got {template.shape} {template.dtype}")
        mask = np.ascontiguousarray(template.astype(bool))
        mask.setflags(write=False)
        return TextureTemplate(mask=mask, approximate=False, source="array")
    if template is not None:
        return TextureTemplate(mask=read_texture_template(template), approximate=False, source=str(template))
    path = ensure_texture_template(cache_dir, local_files_only=local_files_only)
    if path is not None:
        return TextureTemplate(mask=read_texture_template(path), approximate=False, source=str(path))
    from .texture import part_valid_masks

    return TextureTemplate(mask=part_valid_masks(atlas_size), approximate=True, source="UV_Processed.mat rasterisation")
