"""Parsing-guided reference attention for region editing (no training).

When an edit takes regions from several photos, each photo can feed the
ReferenceNet as its own reference (K references = one SMPL-UV texture map per
photo; their tokens are concatenated in every reader layer, see
:class:`mcld.models.attention_processors.ReferenceBank`). Plain MCLD lets every
target location attend to every reference token, so a torso may read the
trousers photo. :class:`ParsingAttentionMask` restricts it: a target location
attends only to the reference tokens of the photo that owns its region.

Query side (the target): the target DensePose part at the location (the
target IUV resized to the layer's ``query_hw`` with nearest) gives the edit
layers that texture it (:data:`PART_LAYERS`), and the
:class:`~mcld.editing.RegionSelection` gives their photos:

============================== ============================== ==========================
DensePose parts (1-based)      body                           edit layers (photo from)
============================== ============================== ==========================
1, 2                           torso back / front             ``upper_garment``
3, 4                           right / left hand              ``upper_garment``
15-22                          upper / lower arms             ``upper_garment``
7-14                           upper / lower legs             ``lower_garment``
5, 6                           left / right foot              ``shoes``
23, 24                         head right / left              ``face`` and ``hair``
0 (and anything else)          background                     all references (no limit)
============================== ============================== ==========================

The head is textured by two layers, so a head location may read both the face
photo and the hair photo. A dress taken as upper garment reaches leg texels,
but leg locations read the ``lower_garment`` photo only (the table above);
take the lower garment from the same photo to keep a long dress.

Reference side: a token of reference ``k`` (photo ``p_k``) may be read only
where photo ``p_k`` contributed the texels under it, i.e. where the
composition's per-texel ownership (:attr:`mcld.editing.ComposedConditions.texture_source`,
SMPL-UV frame) equals ``p_k``, downsampled to the layer's reference grid with
"any" (max) pooling so that small regions (the face at a coarse layer) keep at
least one token.

Mask layout (the hook contract of
:mod:`mcld.models.attention_processors`): boolean ``(B_cond, L_q, L_q +
sum_k L_k)``, ``True`` = may attend; columns ``[own tokens, reference 0,
reference 1, ...]``, each token axis the row-major flattening of the layer's
``(h, w)`` grid. Own-token columns are always ``True`` (no row is ever fully
masked). Background rows are ``True`` everywhere. A location whose owning
photo has no token left at a layer reads only its own tokens there.

With the mask off (the default of :func:`mcld.editing.edit`) nothing is
installed and the pipeline is bit-identical to plain MCLD.

Source:
    Idea from TruePose's HPFA (human-parsing-guided feature attention):
    "TruePose: Human-Parsing-guided Attention Diffusion for Full-ID Preserving
    Pose Transfer" (restricting reference attention of each target region to
    the same parsing region of the source), applied here without training to
    the ReferenceNet self-attention of MCLD (Liu et al., "Multi-focal
    Conditioned Latent Diffusion for Person Image Synthesis", CVPR 2025,
    Sec. 3). The part table and the ownership rules are ours.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .models.attention_processors import ReferenceAttentionQuery

__all__ = [
    "PART_LAYERS",
    "ParsingAttentionMask",
    "parsing_attention_from_composition",
    "reference_photos_of",
    "use_reference_attention_mask",
]

_UPPER = (1, 2, 3, 4) + tuple(range(15, 23))
#: DensePose part id (1..24) -> the edit layers (``RegionSelection`` fields)
#: whose photo textures that part. Parts not listed are background.
PART_LAYERS: Dict[int, Tuple[str, ...]] = {
    **{p: ("upper_garment",) for p in _UPPER},
    **{p: ("lower_garment",) for p in range(7, 15)},
    5: ("shoes",),
    6: ("shoes",),
    23: ("face", "hair"),
    24: ("face", "hair"),
}


def reference_photos_of(texture_source: np.ndarray) -> Tuple[int, ...]:
    """Photos that own at least one texel of a composed texture, ascending.

    Args:
        texture_source: ``(N, N)`` integer photo index per SMPL-UV texel, -1
            for none (:attr:`mcld.editing.ComposedConditions.texture_source`).

    Returns:
        The photo indices, one reference each, in reference (key) order.
    """
    values = np.unique(np.asarray(texture_source))
    return tuple(int(v) for v in values if v >= 0)


class ParsingAttentionMask:
    """Reference-attention mask function (``bank.attention_mask_fn``) from parsing.

    Args:
        target_parts: ``(H, W)`` integer DensePose part index (0 = background,
            1..24) of the target, in the frame the pipeline squashes to the
            model resolution (e.g. the ``(512, 352)`` crop frame; channel 0 of
            :attr:`mcld.pose_transfer.TargetConditions.iuv`).
        selection: The :class:`~mcld.editing.RegionSelection` of the edit.
        reference_photos: Photo index of each reference, in the order the
            texture maps are passed to the pipeline (``K`` entries).
        reference_ownership: ``K`` boolean ``(N, N)`` maps in the SMPL-UV
            texture frame: where reference ``k``'s tokens may be read
            (photo ``reference_photos[k]`` contributed the texel).
        record: Keep every returned mask in :attr:`masks` (tests, debugging).
        device: Where the masks are built and cached (the pipeline's execution
            device, so that they are not copied to the GPU at every step);
            ``None``: CPU.

    Attributes:
        masks: ``{layer name: (B, L_q, L_q + sum L_k) bool}`` of the last
            forward pass per layer when ``record`` is on.

    Raises:
        ValueError: Shapes or counts that do not match (named in the message).

    Source:
        TruePose HPFA ("TruePose: Human-Parsing-guided Attention Diffusion for
        Full-ID Preserving Pose Transfer") applied to MCLD (CVPR 2025) Sec. 3
        ReferenceNet attention; module docstring for the rules.
    """

    def __init__(
        self,
        target_parts: np.ndarray,
        selection,
        reference_photos: Sequence[int],
        reference_ownership: Sequence[np.ndarray],
        record: bool = False,
        device=None,
    ):
        parts = np.asarray(target_parts)
        if parts.ndim != 2 or not np.issubdtype(parts.dtype, np.integer):
            raise ValueError(f"target_parts must be an (H, W) integer array, got {parts.shape} {parts.dtype}")
        if len(reference_photos) == 0 or len(reference_photos) != len(reference_ownership):
            raise ValueError(
                f"need one ownership map per reference photo, got {len(reference_photos)} photos and "
                f"{len(reference_ownership)} maps"
            )
        owners = [np.asarray(o, dtype=bool) for o in reference_ownership]
        for k, o in enumerate(owners):
            if o.ndim != 2:
                raise ValueError(f"reference_ownership[{k}] must be (N, N), got {o.shape}")
        self.selection = selection
        self.reference_photos = tuple(int(p) for p in reference_photos)
        # (K, 25): may a query of part p read reference k? Part 0 / unknown: all.
        allow = np.ones((len(self.reference_photos), 25), dtype=bool)
        for part, layers in PART_LAYERS.items():
            photos = {selection.layer_source(layer) for layer in layers}
            allow[:, part] = [p in photos for p in self.reference_photos]
        self._part_allow = torch.from_numpy(allow)
        self._part_background = torch.tensor([p not in PART_LAYERS for p in range(25)])
        self._parts = torch.from_numpy(np.where((parts >= 0) & (parts <= 24), parts, 0).astype(np.int64))
        self._ownership = [torch.from_numpy(o) for o in owners]
        self.record = record
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.masks: Dict[str, torch.Tensor] = {}
        self._cache: Dict[tuple, torch.Tensor] = {}

    # Helpers --------------------------------------------------------------------

    def query_parts(self, query_hw: Tuple[int, int]) -> torch.Tensor:
        """Target part index at each query location.

        Args:
            query_hw: ``(h, w)`` token grid.

        Returns:
            ``(h * w,)`` int64 part index (0..24), row-major; nearest resize.
        """
        grid = F.interpolate(self._parts[None, None].float(), size=tuple(query_hw), mode="nearest")
        return grid.reshape(-1).long()

    def reference_allowed(self, k: int, reference_hw: Tuple[int, int]) -> torch.Tensor:
        """Tokens of reference ``k`` that carry its photo's texels.

        Args:
            k: Reference index (0..K-1).
            reference_hw: ``(h, w)`` token grid of that reference.

        Returns:
            ``(h * w,)`` bool, row-major; a token is True when any texel under
            it is owned (adaptive max pooling of the ownership map).
        """
        owned = self._ownership[k][None, None].float()
        return F.adaptive_max_pool2d(owned, tuple(reference_hw)).reshape(-1) > 0

    def layer_mask(
        self, query_hw: Tuple[int, int], reference_hw: Sequence[Tuple[int, int]]
    ) -> torch.Tensor:
        """The ``(L_q, L_q + sum L_k)`` bool mask of one layer (own columns True)."""
        key = (tuple(query_hw), tuple(tuple(hw) for hw in reference_hw))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parts = self.query_parts(query_hw)
        length = parts.numel()
        background = self._part_background[parts]  # (L_q,) rows that read every reference token
        blocks = [torch.ones(length, length, dtype=torch.bool)]
        for k, hw in enumerate(reference_hw):
            row = self._part_allow[k][parts]  # (L_q,) may this query read photo k?
            col = self.reference_allowed(k, hw)  # (L_k,)
            blocks.append((row[:, None] & col[None, :]) | background[:, None])
        mask = torch.cat(blocks, dim=1).to(self.device)
        self._cache[key] = mask
        return mask

    # Hook -----------------------------------------------------------------------

    def __call__(self, query: ReferenceAttentionQuery) -> torch.Tensor:
        """Mask for one reader layer (the ``bank.attention_mask_fn`` contract).

        Args:
            query: The layer's description from the reference bank.

        Returns:
            ``(B_cond, L_q, L_q + sum L_k)`` bool, ``True`` = may attend.

        Raises:
            ValueError: The layer has another number of references than
                ``reference_photos``, or its token grids are unknown.
        """
        counts = query.reference_token_counts
        if len(counts) != len(self.reference_photos):
            raise ValueError(
                f"layer {query.layer_name!r} has {len(counts)} references, the mask was built for "
                f"{len(self.reference_photos)} (photos {self.reference_photos})"
            )
        if query.query_hw is None or any(hw is None for hw in query.reference_hw):
            raise ValueError(f"layer {query.layer_name!r}: token grids unknown (bank.latent_hw is not set)")
        mask = self.layer_mask(query.query_hw, query.reference_hw)
        mask = mask[None].expand(query.batch_size, -1, -1)
        if self.record:
            self.masks[query.layer_name] = mask
        return mask


def parsing_attention_from_composition(
    composed,
    target_iuv: np.ndarray,
    reference_photos: Optional[Sequence[int]] = None,
    record: bool = False,
    device=None,
) -> ParsingAttentionMask:
    """Build the mask function of an edit from its composition and target.

    Args:
        composed: :class:`mcld.editing.ComposedConditions` (its
            ``texture_source`` and ``selection`` are used).
        target_iuv: ``(H, W, 3)`` uint8 target IUV ``(I, U*255, V*255)``
            (:attr:`mcld.pose_transfer.TargetConditions.iuv`), or an ``(H, W)``
            integer part map.
        reference_photos: Photo per reference in pipeline order; default
            :func:`reference_photos_of` ``(composed.texture_source)``.
        record, device: See :class:`ParsingAttentionMask`.

    Returns:
        A :class:`ParsingAttentionMask`; reference ``k`` may be read where
        ``composed.texture_source == reference_photos[k]``.

    Raises:
        ValueError: ``target_iuv`` is neither ``(H, W, 3)`` nor ``(H, W)``, or
            no photo owns any texel.
    """
    iuv = np.asarray(target_iuv)
    if iuv.ndim == 3 and iuv.shape[2] == 3:
        parts = iuv[..., 0]
    elif iuv.ndim == 2:
        parts = iuv
    else:
        raise ValueError(f"target_iuv must be (H, W, 3) or (H, W), got {iuv.shape}")
    if reference_photos is None:
        reference_photos = reference_photos_of(composed.texture_source)
    if not reference_photos:
        raise ValueError("no photo owns any texel of the composed texture; nothing to attend to")
    ownership = [composed.texture_source == p for p in reference_photos]
    return ParsingAttentionMask(
        parts.astype(np.int64), composed.selection, reference_photos, ownership, record=record, device=device
    )


@contextlib.contextmanager
def use_reference_attention_mask(pipeline, mask_fn) -> Iterator[None]:
    """Install ``mask_fn`` as ``pipeline.reference_bank.attention_mask_fn`` for a block.

    The previous hook (normally ``None``) is restored on exit, also after an
    error, so later plain calls stay bit-identical to MCLD.

    Args:
        pipeline: An :class:`mcld.pipeline_mcld.MCLDPipeline`.
        mask_fn: A mask callable (e.g. :class:`ParsingAttentionMask`) or ``None``.
    """
    bank = pipeline.reference_bank
    previous = bank.attention_mask_fn
    bank.attention_mask_fn = mask_fn
    try:
        yield
    finally:
        bank.attention_mask_fn = previous
