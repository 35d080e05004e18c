"""Face Resampler: maps one insightface identity embedding to 16 face tokens.

An IP-Adapter-Plus style Perceiver Resampler (Ye et al. 2023, "IP-Adapter",
Sec. 3.2 / the "Plus" variant; Perceiver of Jaegle et al. 2021 as used by
Flamingo, Alayrac et al. 2022, Sec. 2.1). In MCLD it projects the 512-d ArcFace
embedding of the source face to ``num_queries`` tokens that the denoising
UNet's multi-focal cross-attention reads through its ``to_k_ip``/``to_v_ip``
projections.

Source:
    MCLD paper Sec. 3 (multi-focal conditioning, face branch); upstream
    ``jqliu09/MCLD`` ``ip_adapter/resampler.py`` and
    ``validation/pipeline_loader.py`` L45-56 (constructor values).
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["FaceResampler", "PerceiverAttention"]


class PerceiverAttention(nn.Module):
    """Perceiver cross-attention: latent queries attend to ``[features, latents]``.

    Keys: ``norm1`` (LayerNorm on the features), ``norm2`` (LayerNorm on the
    latents), ``to_q`` (dim -> heads*dim_head), ``to_kv`` (dim -> 2*heads*dim_head),
    ``to_out`` (heads*dim_head -> dim), all linear layers without bias.

    Args:
        dim: Token width.
        dim_head: Width of one head.
        heads: Number of heads.

    Source:
        Upstream ``ip_adapter/resampler.py`` ``PerceiverAttention``; Flamingo
        (Alayrac et al. 2022) Sec. 2.1.
    """

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8):
        super().__init__()
        self.dim_head = dim_head
        self.heads = heads
        inner_dim = dim_head * heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner_dim, bias=False)
        self.to_kv = nn.Linear(dim, inner_dim * 2, bias=False)
        self.to_out = nn.Linear(inner_dim, dim, bias=False)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, -1).transpose(1, 2)

    def forward(self, features: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Attend from the latents to ``[features, latents]``.

        Args:
            features: ``(B, N, dim)`` image/face features.
            latents: ``(B, Q, dim)`` latent queries.

        Returns:
            ``(B, Q, dim)`` attention output (without the residual).
        """
        features = self.norm1(features)
        latents = self.norm2(latents)
        batch, num_queries, _ = latents.shape
        query = self._split_heads(self.to_q(latents))
        key, value = self.to_kv(torch.cat((features, latents), dim=-2)).chunk(2, dim=-1)
        key, value = self._split_heads(key), self._split_heads(value)
        # q and k are each scaled by dim_head^-1/4 (= 1/sqrt(dim_head) overall);
        # the softmax runs in float32 as upstream does.
        scale = 1.0 / math.sqrt(math.sqrt(self.dim_head))
        weight = (query * scale) @ (key * scale).transpose(-2, -1)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        out = weight @ value
        out = out.permute(0, 2, 1, 3).reshape(batch, num_queries, -1)
        return self.to_out(out)


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    inner_dim = int(dim * mult)
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, inner_dim, bias=False),
        nn.GELU(),
        nn.Linear(inner_dim, dim, bias=False),
    )


class FaceResampler(ModelMixin, ConfigMixin):
    """IP-Adapter-Plus Resampler from a face embedding to ``num_queries`` tokens.

    ``x = proj_in(face_embeds)``; learned ``latents`` (1, Q, dim) repeated per
    batch; ``depth`` times: ``latents += PerceiverAttention(x, latents)``,
    ``latents += FeedForward(latents)`` (LayerNorm -> Linear -> exact GELU ->
    Linear); then ``norm_out(proj_out(latents))``.

    State-dict keys (upstream names): ``latents``, ``proj_in.*``, ``proj_out.*``,
    ``norm_out.*``, ``layers.<i>.0.{norm1,norm2,to_q,to_kv,to_out}.*``,
    ``layers.<i>.1.{0,1,3}.*``.

    Args:
        dim: Internal token width (1280 in MCLD).
        depth: Number of (attention, feed-forward) layers (4).
        dim_head: Head width (64).
        heads: Number of heads (20).
        num_queries: Number of output tokens (16).
        embedding_dim: Input embedding width (512, insightface ArcFace).
        output_dim: Output token width = the denoising UNet's
            ``cross_attention_dim`` (768).
        ff_mult: Feed-forward expansion factor (4).

    Source:
        IP-Adapter (Ye et al. 2023) Sec. 3.2; upstream ``ip_adapter/resampler.py``
        and ``validation/pipeline_loader.py`` L45-56.
    """

    @register_to_config
    def __init__(
        self,
        dim: int = 1280,
        depth: int = 4,
        dim_head: int = 64,
        heads: int = 20,
        num_queries: int = 16,
        embedding_dim: int = 512,
        output_dim: int = 768,
        ff_mult: int = 4,
    ):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, num_queries, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads), _feed_forward(dim, ff_mult)])
            for _ in range(depth)
        )

    def forward(self, face_embeds: torch.Tensor) -> torch.Tensor:
        """Project face embeddings to face tokens.

        Args:
            face_embeds: ``(B, N, embedding_dim)`` float embeddings; MCLD passes
                ``N = 1`` raw (not L2-normalised) insightface embeddings, zeros
                when no face was found.

        Returns:
            ``(B, num_queries, output_dim)`` face tokens, weight dtype.

        Raises:
            ValueError: If ``face_embeds`` is not 3-D with ``embedding_dim`` features.
        """
        if face_embeds.ndim != 3 or face_embeds.shape[-1] != self.config.embedding_dim:
            raise ValueError(
                f"FaceResampler expects (B, N, {self.config.embedding_dim}), got {tuple(face_embeds.shape)}"
            )
        latents = self.latents.repeat(face_embeds.shape[0], 1, 1)
        x = self.proj_in(face_embeds)
        for attention, feed_forward in self.layers:
            latents = attention(x, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))
