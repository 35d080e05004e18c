"""Attention processors and hooks that turn two stock SD-1.5 UNets into MCLD.

MCLD (Liu et al., CVPR 2025) runs two ``diffusers.UNet2DConditionModel``s:

* the **ReferenceNet** (reference UNet) encodes the UV texture map once per
  request; every transformer block's self-attention input (the ``norm1``
  output) is stored in a :class:`ReferenceBank` by
  :class:`ReferenceWriteProcessor`;
* the **denoising UNet** reads that bank in its self-attention
  (:class:`ReferenceReadProcessor`: keys/values = ``[own tokens, reference
  tokens]`` for the conditional classifier-free-guidance rows, plain
  self-attention for the unconditional rows), its cross-attention reads
  CLIP tokens and 16 face tokens through :class:`MultiFocalIPAttnProcessor`
  (IP-Adapter style decoupled cross-attention with stage-specific contexts),
  and the pose guider's features are added to its ``conv_in`` output by
  :class:`PoseFeatureInjector` (one persistent forward hook).

No UNet code is forked: everything is an attention processor
(``Attention.set_processor``) or a forward hook.

Reference-attention mask hook (for parsing-guided reference attention)
-----------------------------------------------------------------------
Set ``bank.attention_mask_fn`` to a callable
``fn(query: ReferenceAttentionQuery) -> torch.Tensor | None``. It is called
once per reader layer and forward pass, for the conditional rows only, and
may return a **boolean** mask (``True`` = may attend) of shape
``(B_cond, L_query, L_own + sum(reference_token_counts))`` or anything
broadcastable to it (e.g. ``(1, L_query, L_key)``), where the key axis is
ordered ``[own tokens (L_own = L_query), reference 0 tokens, reference 1
tokens, ...]`` and every token axis is the row-major flattening of the
layer's ``(h, w)`` grid (``query.query_hw``, ``query.reference_hw[k]``). Keep
the own-token columns ``True`` so that no query row is fully masked. With no
mask (``None``) and one reference the result is bit-identical to plain MCLD.

Source:
    MCLD paper Sec. 3 (multi-focal conditioning, ReferenceNet texture branch);
    upstream ``jqliu09/MCLD`` ``src/models/mutual_self_attention.py``
    (reference write/read), ``ip_adapter/attention_processors.py``
    ``IPAttnProcessor2_0`` (L307-450), ``src/models/unet_3d_diff_prompt.py``
    L213-295 (pose feature addition, stage routing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

__all__ = [
    "STAGES",
    "StageContextLayout",
    "pack_stage_contexts",
    "ReferenceAttentionQuery",
    "ReferenceBank",
    "ReferenceWriteProcessor",
    "ReferenceReadProcessor",
    "MultiFocalIPAttnProcessor",
    "PoseFeatureInjector",
    "PartAttentionMask",
    "stage_of",
    "transformer_block_attentions",
    "add_multi_focal_ip_processors",
    "set_reference_processors",
]

#: UNet stages in the order their contexts are packed.
STAGES = ("down", "mid", "up")


# Helpers ------------------------------------------------------------------------


def stage_of(module_name: str) -> str:
    """Return ``"down"``, ``"mid"`` or ``"up"`` for a UNet module path.

    Args:
        module_name: Dotted module path inside a UNet, e.g.
            ``"up_blocks.1.attentions.0.transformer_blocks.0.attn2"``.

    Raises:
        ValueError: If the path is in none of ``down_blocks``, ``mid_block``,
            ``up_blocks``.
    """
    head = module_name.split(".", 1)[0]
    if head == "down_blocks":
        return "down"
    if head == "mid_block":
        return "mid"
    if head == "up_blocks":
        return "up"
    raise ValueError(f"module {module_name!r} is not inside down_blocks, mid_block or up_blocks")


def transformer_block_attentions(unet: nn.Module, which: str) -> List[Tuple[str, Attention]]:
    """List ``(transformer-block path, Attention)`` for ``attn1`` or ``attn2``.

    Args:
        unet: A diffusers ``UNet2DConditionModel``.
        which: ``"attn1"`` (self-attention) or ``"attn2"`` (cross-attention).

    Returns:
        Pairs in depth-first module order, the path without the ``.attn1`` /
        ``.attn2`` suffix (e.g. ``"down_blocks.0.attentions.0.transformer_blocks.0"``).
    """
    suffix = "." + which
    return [
        (name[: -len(suffix)], module)
        for name, module in unet.named_modules()
        if isinstance(module, Attention) and name.endswith(suffix) and ".transformer_blocks." in name
    ]


def _to_heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """``(B, L, heads*d)`` -> ``(B, heads, L, d)``."""
    batch = x.shape[0]
    return x.view(batch, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)


def _from_heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """``(B, heads, L, d)`` -> ``(B, L, heads*d)``."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)


def _flatten_input(attn: Attention, hidden_states: torch.Tensor, temb: Optional[torch.Tensor]):
    """Shared prologue of diffusers' ``AttnProcessor2_0`` (spatial/group norm, 4-D input)."""
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    shape = None
    if hidden_states.ndim == 4:
        shape = hidden_states.shape
        batch, channel, height, width = shape
        hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    return hidden_states, shape


def _finish_output(attn: Attention, out: torch.Tensor, shape, residual: torch.Tensor) -> torch.Tensor:
    """Shared epilogue: ``to_out``, un-flatten, residual, rescale."""
    out = attn.to_out[0](out)
    out = attn.to_out[1](out)
    if shape is not None:
        out = out.transpose(-1, -2).reshape(shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


# Stage contexts -----------------------------------------------------------------


@dataclass(frozen=True)
class StageContextLayout:
    """Token ranges of the three stage contexts inside one packed context.

    The denoising UNet is called with one ``encoder_hidden_states`` =
    ``concat([down, mid, up], dim=1)``; each cross-attention processor reads
    the slice of its stage. Pass it as ``cross_attention_kwargs={"context_layout":
    layout}``.

    Attributes:
        down: Token slice of the down-block context (``[CLIP(source), face x16]``).
        mid: Token slice of the mid-block context (``[CLIP(source), CLIP(texture), face x16]``).
        up: Token slice of the up-block context (``[CLIP(texture), face x16]``).
    """

    down: slice
    mid: slice
    up: slice

    def slice_for(self, stage: str) -> slice:
        """Return the token slice of ``stage`` (``"down"``, ``"mid"`` or ``"up"``)."""
        return getattr(self, stage)


def pack_stage_contexts(
    down: torch.Tensor, mid: torch.Tensor, up: torch.Tensor
) -> Tuple[torch.Tensor, StageContextLayout]:
    """Concatenate the three stage contexts along tokens.

    Args:
        down: ``(B, L_down, D)`` down-stage context.
        mid: ``(B, L_mid, D)`` mid-stage context.
        up: ``(B, L_up, D)`` up-stage context.

    Returns:
        ``(packed, layout)``: ``packed`` is ``(B, L_down + L_mid + L_up, D)``;
        ``layout`` tells each processor where its stage lies.

    Raises:
        ValueError: If batch sizes or widths differ.
    """
    if not (down.shape[0] == mid.shape[0] == up.shape[0] and down.shape[-1] == mid.shape[-1] == up.shape[-1]):
        raise ValueError(
            f"stage contexts must share batch and width, got {tuple(down.shape)}, {tuple(mid.shape)}, {tuple(up.shape)}"
        )
    n_down, n_mid = down.shape[1], mid.shape[1]
    layout = StageContextLayout(
        down=slice(0, n_down),
        mid=slice(n_down, n_down + n_mid),
        up=slice(n_down + n_mid, n_down + n_mid + up.shape[1]),
    )
    return torch.cat([down, mid, up], dim=1), layout


# Reference bank -----------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceAttentionQuery:
    """What a reference-attention mask function is told about one reader layer.

    Attributes:
        layer_name: Transformer-block path, e.g.
            ``"up_blocks.3.attentions.1.transformer_blocks.0"``.
        num_query_tokens: ``L_query`` = ``h * w`` of this layer.
        query_hw: ``(h, w)`` token grid of the denoising UNet at this layer
            (``None`` if the bank's ``latent_hw`` is unknown).
        num_own_tokens: Own key/value tokens (= ``L_query``).
        reference_token_counts: Tokens of each of the K references, in key order.
        reference_hw: ``(h, w)`` grid of each reference at this layer (or ``None``).
        batch_size: Number of conditional rows ``B_cond``.
    """

    layer_name: str
    num_query_tokens: int
    query_hw: Optional[Tuple[int, int]]
    num_own_tokens: int
    reference_token_counts: Tuple[int, ...]
    reference_hw: Tuple[Optional[Tuple[int, int]], ...]
    batch_size: int


def _grid_for(num_tokens: int, latent_hw: Optional[Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    """Find the ``(h, w)`` grid of ``num_tokens`` tokens at some UNet depth."""
    if latent_hw is None:
        return None
    h, w = latent_hw
    for _ in range(8):
        if h * w == num_tokens:
            return (h, w)
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return None


class ReferenceBank:
    """Shared store between ReferenceNet writers and denoising-UNet readers.

    Life cycle per request: :meth:`clear`; ``writing = True``; run the
    reference UNet on ``N = R * K`` rows (R row groups, K references per
    sample); ``writing = False``; :meth:`finalize` (keeps the conditional rows,
    concatenates the K references along tokens, casts to ``storage_dtype``);
    set ``num_uncond_rows``; run the denoising steps; :meth:`clear`.

    Attributes:
        written: ``{block path: (N, L, C)}`` norm1 outputs as written, compute
            dtype (kept until :meth:`clear`; the golden test reads them).
        entries: ``{block path: (B_cond, K * L, C)}`` tokens the readers use,
            in ``storage_dtype``.
        reference_token_counts: ``{block path: (L, ..., L)}`` tokens per reference.
        storage_dtype: dtype of ``entries``. ``torch.float16`` reproduces upstream
            (its bank is cast to float16 even in an fp32 pipeline, then promoted
            back when concatenated); ``None`` keeps the compute dtype.
        num_uncond_rows: Leading rows of the reader batch that are the
            unconditional CFG half (plain self-attention, no reference).
        attention_mask_fn: Optional reference-attention mask hook (module docstring).
        cache_projections: If True, readers cache ``to_k``/``to_v`` of the
            reference tokens per request (fast path; the reference tokens do
            not change across steps).
        latent_hw: ``(h, w)`` latent grid of the target (used for ``query_hw``).
        reference_latent_hw: ``(h, w)`` latent grid of the references.
        enabled: Readers fall back to plain self-attention when False.
        writing: Writers store their inputs only while True.

    Source:
        Upstream ``src/models/mutual_self_attention.py`` (``ReferenceAttentionControl``
        write/read/update/clear, float16 ``update`` cast at L425-463).
    """

    def __init__(self, storage_dtype: Optional[torch.dtype] = None):
        self.written: Dict[str, torch.Tensor] = {}
        self.entries: Dict[str, torch.Tensor] = {}
        self.reference_token_counts: Dict[str, Tuple[int, ...]] = {}
        self.projection_cache: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
        self.storage_dtype = storage_dtype
        self.num_uncond_rows = 0
        self.attention_mask_fn: Optional[Callable[[ReferenceAttentionQuery], Optional[torch.Tensor]]] = None
        self.cache_projections = False
        self.latent_hw: Optional[Tuple[int, int]] = None
        self.reference_latent_hw: Optional[Tuple[int, int]] = None
        self.enabled = True
        self.writing = False

    def clear(self) -> None:
        """Drop every stored tensor and reset per-request state (keeps settings)."""
        self.written.clear()
        self.entries.clear()
        self.reference_token_counts.clear()
        self.projection_cache.clear()
        self.num_uncond_rows = 0
        self.writing = False

    def write(self, name: str, hidden_states: torch.Tensor) -> None:
        """Store a writer's ``(N, L, C)`` self-attention input (called by writers)."""
        self.written[name] = hidden_states.detach()

    def finalize(self, batch_size: int, num_references: int = 1) -> None:
        """Turn the written tensors into reader entries.

        Keeps the last ``batch_size * num_references`` written rows (the
        conditional ones; upstream writes ``[uncond, cond]`` halves and reads
        only the cond half), regroups them as ``(batch_size, K * L, C)``
        (sample-major: written row ``b * K + k`` is reference ``k`` of sample
        ``b``) and casts to ``storage_dtype``.

        Args:
            batch_size: Number of samples ``B``.
            num_references: References per sample ``K``.

        Raises:
            ValueError: If fewer rows were written than ``B * K``.
        """
        rows = batch_size * num_references
        for name, tokens in self.written.items():
            if tokens.shape[0] < rows:
                raise ValueError(f"bank {name!r} holds {tokens.shape[0]} rows, need {rows} (B={batch_size}, K={num_references})")
            cond = tokens[tokens.shape[0] - rows :]
            length, channels = cond.shape[1], cond.shape[2]
            cond = cond.reshape(batch_size, num_references * length, channels)
            if self.storage_dtype is not None:
                cond = cond.to(self.storage_dtype)
            self.entries[name] = cond
            self.reference_token_counts[name] = (length,) * num_references
        self.projection_cache.clear()

    def reference_query(self, name: str, num_query_tokens: int, batch_size: int) -> ReferenceAttentionQuery:
        """Describe reader layer ``name`` for :attr:`attention_mask_fn`."""
        counts = self.reference_token_counts.get(name, ())
        return ReferenceAttentionQuery(
            layer_name=name,
            num_query_tokens=num_query_tokens,
            query_hw=_grid_for(num_query_tokens, self.latent_hw),
            num_own_tokens=num_query_tokens,
            reference_token_counts=counts,
            reference_hw=tuple(_grid_for(c, self.reference_latent_hw or self.latent_hw) for c in counts),
            batch_size=batch_size,
        )


class ReferenceWriteProcessor:
    """ReferenceNet ``attn1`` processor: stores its input, then plain self-attention.

    The input of a transformer block's ``attn1`` is the block's ``norm1``
    output, exactly what upstream appends to its bank. The attention itself
    ignores the bank (the reference UNet runs unchanged).

    Args:
        bank: The shared :class:`ReferenceBank`.
        name: Transformer-block path used as bank key.

    Source:
        Upstream ``src/models/mutual_self_attention.py`` L145-147 (write mode).
    """

    def __init__(self, bank: ReferenceBank, name: str):
        self.bank = bank
        self.name = name
        self._plain = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        temb: Optional[torch.Tensor] = None,
        context_layout: Optional[StageContextLayout] = None,
    ) -> torch.Tensor:
        """Store ``hidden_states`` ``(N, L, C)`` if the bank is writing, then self-attend."""
        if self.bank.writing:
            self.bank.write(self.name, hidden_states)
        return self._plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceReadProcessor:
    """Denoising-UNet ``attn1`` processor: self-attention over own + reference tokens.

    For the conditional rows (all rows after ``bank.num_uncond_rows``) keys and
    values come from ``concat([own tokens, reference tokens], dim=1)``, where
    the reference tokens are the bank entry of the same block path
    (``(B_cond, K * L_ref, C)``, or 1 row broadcast to all). For the
    unconditional CFG rows, and whenever the bank has no entry for this block,
    it is plain self-attention. Queries always come from the own tokens.

    With ``bank.storage_dtype = torch.float16`` the reference tokens make a
    float16 round trip before use, as upstream does.

    Args:
        bank: The shared :class:`ReferenceBank`.
        name: Transformer-block path (the same path as the writer in the
            reference UNet).

    Source:
        Upstream ``src/models/mutual_self_attention.py`` L156-238 (read mode and
        the uncond-row recomputation at L176-198).
    """

    def __init__(self, bank: ReferenceBank, name: str):
        self.bank = bank
        self.name = name

    def _reference_kv(self, attn: Attention, reference: torch.Tensor):
        """``to_k``/``to_v`` of the reference tokens, cached per request if enabled."""
        if self.bank.cache_projections:
            cached = self.bank.projection_cache.get(self.name)
            if cached is not None and cached[0].shape[0] == reference.shape[0]:
                return cached
        kv = (attn.to_k(reference), attn.to_v(reference))
        if self.bank.cache_projections:
            self.bank.projection_cache[self.name] = kv
        return kv

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        temb: Optional[torch.Tensor] = None,
        context_layout: Optional[StageContextLayout] = None,
    ) -> torch.Tensor:
        """Self-attention of ``hidden_states`` ``(N, L, C)`` with reference keys/values.

        Returns:
            ``(N, L, C)`` attention output (before the block's residual add).
        """
        bank = self.bank
        reference = bank.entries.get(self.name) if bank.enabled else None
        if reference is None or attention_mask is not None or attn.norm_cross:
            return AttnProcessor2_0()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

        residual = hidden_states
        hidden_states, shape = _flatten_input(attn, hidden_states, temb)
        n_rows, length = hidden_states.shape[0], hidden_states.shape[1]
        n_uncond = min(bank.num_uncond_rows, n_rows)
        n_cond = n_rows - n_uncond
        query = _to_heads(attn, attn.to_q(hidden_states))

        outputs = []
        if n_uncond:
            own = hidden_states[:n_uncond]
            outputs.append(
                F.scaled_dot_product_attention(
                    query[:n_uncond], _to_heads(attn, attn.to_k(own)), _to_heads(attn, attn.to_v(own))
                )
            )
        if n_cond:
            own = hidden_states[n_uncond:]
            if reference.shape[0] == 1 and n_cond > 1:
                reference = reference.expand(n_cond, -1, -1)
            elif reference.shape[0] != n_cond:
                raise ValueError(
                    f"reference bank {self.name!r} has {reference.shape[0]} rows for {n_cond} conditional rows"
                )
            reference = reference.to(own.dtype)
            if bank.cache_projections:
                ref_key, ref_value = self._reference_kv(attn, reference)
                key = torch.cat([attn.to_k(own), ref_key], dim=1)
                value = torch.cat([attn.to_v(own), ref_value], dim=1)
            else:
                tokens = torch.cat([own, reference], dim=1)
                key, value = attn.to_k(tokens), attn.to_v(tokens)
            mask = None
            if bank.attention_mask_fn is not None:
                mask = bank.attention_mask_fn(bank.reference_query(self.name, length, n_cond))
                if mask is not None:
                    if mask.dtype != torch.bool:
                        raise ValueError(f"reference attention mask must be boolean, got {mask.dtype}")
                    if mask.shape[-1] != key.shape[1] or mask.shape[-2] not in (1, length):
                        raise ValueError(
                            f"reference attention mask for {self.name!r} has shape {tuple(mask.shape)}, "
                            f"expected (B, {length}, {key.shape[1]}) or broadcastable"
                        )
                    mask = mask.to(query.device)
                    mask = mask.unsqueeze(1) if mask.ndim == 3 else mask
            outputs.append(
                F.scaled_dot_product_attention(
                    query[n_uncond:], _to_heads(attn, key), _to_heads(attn, value), attn_mask=mask
                )
            )
        out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=0)
        out = _from_heads(attn, out).to(query.dtype)
        return _finish_output(attn, out, shape, residual)


class MultiFocalIPAttnProcessor(nn.Module):
    """Denoising-UNet ``attn2`` processor: CLIP tokens + 16 face tokens, per stage.

    Reads its stage's slice of the packed context (``context_layout``; the
    whole context when no layout is given). The last ``num_tokens`` tokens of
    that slice are face tokens, the rest (one or two CLIP image tokens) text-like
    tokens. Output = ``to_out(SDPA(q, to_k(clip), to_v(clip)) + scale *
    SDPA(q, to_k_ip(face), to_v_ip(face)))`` with the same query and heads.

    As the module registered as ``attn2.processor`` its weights are
    ``<block>.attn2.processor.to_k_ip.weight`` / ``to_v_ip.weight`` (the upstream
    checkpoint names).

    Args:
        hidden_size: Query width ``C`` of the attention (block width).
        cross_attention_dim: Context width ``D`` (768 for SD-1.5).
        stage: ``"down"``, ``"mid"`` or ``"up"``.
        num_tokens: Number of trailing face tokens (16).
        scale: Weight of the face attention (0.5).

    Source:
        Upstream ``ip_adapter/attention_processors.py`` ``IPAttnProcessor2_0``
        (L307-450), ``train.py`` ``set_ip_adapter`` (L157-178), stage routing in
        ``src/models/unet_3d_diff_prompt.py`` L227-295; IP-Adapter (Ye et al.
        2023) Sec. 3.2 decoupled cross-attention.
    """

    def __init__(
        self,
        hidden_size: int,
        cross_attention_dim: int,
        stage: str = "down",
        num_tokens: int = 16,
        scale: float = 0.5,
    ):
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.hidden_size = hidden_size
        self.cross_attention_dim = cross_attention_dim
        self.stage = stage
        self.num_tokens = num_tokens
        self.scale = scale
        self.to_k_ip = nn.Linear(cross_attention_dim, hidden_size, bias=False)
        self.to_v_ip = nn.Linear(cross_attention_dim, hidden_size, bias=False)

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        temb: Optional[torch.Tensor] = None,
        context_layout: Optional[StageContextLayout] = None,
    ) -> torch.Tensor:
        """Cross-attention of ``hidden_states`` ``(N, L, C)`` with the stage context.

        Args:
            encoder_hidden_states: ``(N, T, D)`` packed context (or this stage's
                context alone when ``context_layout`` is None).
            context_layout: Where this stage's tokens lie in the packed context.

        Returns:
            ``(N, L, C)``.

        Raises:
            ValueError: If there is no context or it has no more than
                ``num_tokens`` tokens.
        """
        if encoder_hidden_states is None:
            raise ValueError("MultiFocalIPAttnProcessor needs encoder_hidden_states (CLIP + face tokens)")
        context = encoder_hidden_states
        if context_layout is not None:
            context = context[:, context_layout.slice_for(self.stage)]
        if context.shape[1] <= self.num_tokens:
            raise ValueError(
                f"{self.stage} context has {context.shape[1]} tokens; need CLIP tokens plus {self.num_tokens} face tokens"
            )
        residual = hidden_states
        hidden_states, shape = _flatten_input(attn, hidden_states, temb)
        split = context.shape[1] - self.num_tokens
        clip_tokens, face_tokens = context[:, :split], context[:, split:]
        if attn.norm_cross:
            clip_tokens = attn.norm_encoder_hidden_states(clip_tokens)

        mask = None
        if attention_mask is not None:
            mask = attn.prepare_attention_mask(attention_mask, clip_tokens.shape[1], hidden_states.shape[0])
            mask = mask.view(hidden_states.shape[0], attn.heads, -1, mask.shape[-1])

        query = _to_heads(attn, attn.to_q(hidden_states))
        out = F.scaled_dot_product_attention(
            query, _to_heads(attn, attn.to_k(clip_tokens)), _to_heads(attn, attn.to_v(clip_tokens)), attn_mask=mask
        )
        out = _from_heads(attn, out).to(query.dtype)
        face = F.scaled_dot_product_attention(
            query, _to_heads(attn, self.to_k_ip(face_tokens)), _to_heads(attn, self.to_v_ip(face_tokens))
        )
        face = _from_heads(attn, face).to(query.dtype)
        out = out + self.scale * face
        return _finish_output(attn, out, shape, residual)


class PoseFeatureInjector:
    """Adds the current pose-guider features to a UNet's ``conv_in`` output.

    One persistent forward hook, registered once by :meth:`attach`; the
    pipeline sets :attr:`features` per request (``None`` = no-op).

    Attributes:
        features: ``(N or 1, C, h, w)`` pose features, broadcast over the batch;
            cast to the output dtype.

    Source:
        Upstream ``src/models/unet_3d_diff_prompt.py`` L213-215
        (``sample = conv_in(sample) + pose_cond_fea``).
    """

    _ATTR = "_mcld_pose_injector_handle"

    def __init__(self):
        self.features: Optional[torch.Tensor] = None

    def __call__(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return output
        return output + self.features.to(dtype=output.dtype)

    def attach(self, unet: nn.Module) -> "PoseFeatureInjector":
        """Register on ``unet.conv_in``, replacing a hook a previous injector left."""
        old = getattr(unet, self._ATTR, None)
        if old is not None:
            old.remove()
        handle = unet.conv_in.register_forward_hook(self)
        object.__setattr__(unet, self._ATTR, handle)
        return self


# Parsing-guided reference attention (one photo) ----------------------------------


class PartAttentionMask:
    """Parsing-guided reference attention for pose transfer from one photo.

    A reference-attention mask function (``bank.attention_mask_fn``, contract
    in the module docstring): a target location whose DensePose part is ``p``
    (1..24) reads, besides its own tokens, only the reference tokens that
    cover texels of part ``p`` in the SMPL-UV texture map; background
    locations (part 0) read every reference token. Every reference is a
    texture map in the same SMPL-UV frame, so one texel part map serves all K
    references. A part with no token left at a coarse layer reads only its own
    tokens there. Own-token columns are always ``True``.

    Args:
        target_parts: ``(H, W)`` integer DensePose part index (0..24; other
            values count as background) of the target, in the frame the
            pipeline squashes to the model resolution (channel 0 of
            :attr:`mcld.pose_transfer.TargetConditions.iuv`).
        reference_parts: ``(N, N)`` integer part index (0..24) of every
            texel of the SMPL-UV texture map
            (:func:`mcld.pose_transfer.smpl_uv_part_map`).
        device: Where the masks are built and cached (the pipeline's
            execution device); ``None``: CPU.

    Raises:
        ValueError: ``target_parts`` or ``reference_parts`` not 2-D integer arrays.

    Source:
        The rule of TruePose's HPFA ("TruePose: Human-Parsing-guided Attention
        Diffusion for Full-ID Preserving Pose Transfer": each target region
        attends to the same parsing region of the source), applied without
        training to MCLD's ReferenceNet attention (Liu et al., CVPR 2025,
        Sec. 3) with DensePose parts as the parsing; the multi-photo editing
        variant is :class:`mcld.parsing_attention.ParsingAttentionMask`.
    """

    def __init__(self, target_parts, reference_parts, device=None):
        tgt, ref = torch.as_tensor(target_parts), torch.as_tensor(reference_parts)
        for name, value in (("target_parts", tgt), ("reference_parts", ref)):
            if value.ndim != 2 or value.is_floating_point() or value.dtype == torch.bool:
                raise ValueError(f"{name} must be an (H, W) integer array, got {tuple(value.shape)} {value.dtype}")
        tgt, ref = tgt.long(), ref.long()
        self._target = torch.where((tgt >= 0) & (tgt <= 24), tgt, 0)
        parts = torch.arange(25).view(25, 1, 1)
        self._reference_onehot = (ref[None] == parts).float()  # (25, N, N)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._cache: Dict[tuple, torch.Tensor] = {}

    def layer_mask(self, query_hw: Tuple[int, int], reference_hw: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """The ``(L_q, L_q + sum L_k)`` bool mask of one layer (cached per grid sizes).

        Args:
            query_hw: ``(h, w)`` token grid of the target at this layer.
            reference_hw: ``(h, w)`` grid of each reference.

        Returns:
            Bool mask, ``True`` = may attend; columns ``[own, ref 0, ref 1, ...]``.
        """
        key = (tuple(query_hw), tuple(tuple(hw) for hw in reference_hw))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        q_parts = F.interpolate(self._target[None, None].float(), size=tuple(query_hw), mode="nearest")
        q_parts = q_parts.reshape(-1).long()  # (L_q,)
        length = q_parts.numel()
        blocks = [torch.ones(length, length, dtype=torch.bool)]
        for hw in reference_hw:
            # (25, L_k): token holds a texel of part p ("any" pooling keeps small parts).
            has_part = F.adaptive_max_pool2d(self._reference_onehot[None], tuple(hw))[0].reshape(25, -1) > 0
            allowed = has_part[q_parts]  # (L_q, L_k)
            allowed[q_parts == 0] = True
            blocks.append(allowed)
        mask = torch.cat(blocks, dim=1).to(self.device)
        self._cache[key] = mask
        return mask

    def __call__(self, query: ReferenceAttentionQuery) -> torch.Tensor:
        """``(B_cond, L_q, L_q + sum L_k)`` bool mask for one reader layer.

        Raises:
            ValueError: The layer's token grids are unknown (``bank.latent_hw`` unset).
        """
        if query.query_hw is None or any(hw is None for hw in query.reference_hw):
            raise ValueError(f"layer {query.layer_name!r}: token grids unknown (bank.latent_hw is not set)")
        mask = self.layer_mask(query.query_hw, query.reference_hw)
        return mask[None].expand(query.batch_size, -1, -1)


# Installation -------------------------------------------------------------------


def add_multi_focal_ip_processors(unet: nn.Module, num_tokens: int = 16, scale: float = 0.5) -> None:
    """Install :class:`MultiFocalIPAttnProcessor` on every transformer ``attn2``.

    Call before loading the denoising checkpoint: the processors own the
    ``to_k_ip``/``to_v_ip`` weights. Existing MultiFocal processors are kept.

    Args:
        unet: The denoising ``UNet2DConditionModel``.
        num_tokens: Face tokens per context (16).
        scale: Face-attention weight (0.5).

    Source:
        Upstream ``train.py`` ``set_ip_adapter`` L157-178.
    """
    for name, attn in transformer_block_attentions(unet, "attn2"):
        if isinstance(attn.processor, MultiFocalIPAttnProcessor):
            continue
        processor = MultiFocalIPAttnProcessor(
            hidden_size=attn.to_k.out_features,
            cross_attention_dim=attn.to_k.in_features,
            stage=stage_of(name),
            num_tokens=num_tokens,
            scale=scale,
        ).to(device=attn.to_k.weight.device, dtype=attn.to_k.weight.dtype)
        attn.set_processor(processor)


def set_reference_processors(unet: nn.Module, bank: ReferenceBank, role: str) -> List[str]:
    """Install ReferenceNet write or read processors on every transformer ``attn1``.

    Args:
        unet: Reference UNet (``role="write"``) or denoising UNet (``role="read"``).
        bank: The shared bank.
        role: ``"write"`` or ``"read"``.

    Returns:
        Block paths in depth-first order.

    Raises:
        ValueError: For another ``role``.
    """
    if role not in ("write", "read"):
        raise ValueError(f"role must be 'write' or 'read', got {role!r}")
    cls = ReferenceWriteProcessor if role == "write" else ReferenceReadProcessor
    names = []
    for name, attn in transformer_block_attentions(unet, "attn1"):
        attn.set_processor(cls(bank, name))
        names.append(name)
    return names
