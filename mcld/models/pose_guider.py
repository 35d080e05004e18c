"""Pose guider: a small convolutional encoder for DensePose IUV maps.

The pose guider turns the target DensePose IUV image into a feature map at the
latent resolution (1/8 of the image) with the width of the denoising UNet's
``conv_in`` output; the pipeline adds it to that output at every denoising step
(see :class:`mcld.models.attention_processors.PoseFeatureInjector`).

Source:
    MCLD paper (Liu et al., "Multi-focal Conditioned Latent Diffusion for Person
    Image Synthesis", CVPR 2025), Sec. 3 (pose guidance with DensePose); the
    layer layout follows upstream ``jqliu09/MCLD`` ``src/models/pose_guider.py``
    (itself the ControlNet conditioning embedding of Zhang et al. 2023, Sec. 3.2,
    "zero convolution" output layer).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["PoseGuider"]


class PoseGuider(ModelMixin, ConfigMixin):
    """Convolutional encoder from a DensePose IUV image to UNet ``conv_in`` features.

    Layout: ``conv_in`` (3x3, ``conditioning_channels`` -> ``block_out_channels[0]``),
    then for each consecutive pair ``(c_in, c_out)`` of ``block_out_channels`` a
    3x3 conv ``c_in -> c_in`` and a stride-2 3x3 conv ``c_in -> c_out`` (so
    ``blocks.0 .. blocks.5`` for four widths), every conv followed by SiLU, then
    ``conv_out`` (3x3, no activation) to ``conditioning_embedding_channels``.
    ``conv_out`` is zero-initialised at construction so that an untrained pose
    guider leaves the UNet unchanged ("zero convolution", ControlNet Sec. 3.2).

    State-dict keys: ``conv_in.{weight,bias}``, ``blocks.{0..5}.{weight,bias}``,
    ``conv_out.{weight,bias}`` (the upstream names).

    Args:
        conditioning_embedding_channels: Output channels; must equal the width of
            the denoising UNet's ``conv_in`` output (320 for SD-1.5).
        conditioning_channels: Input channels (3 for an IUV image).
        block_out_channels: Widths of the stages; ``len - 1`` stride-2 stages, so
            the output is ``2 ** (len - 1)`` times smaller than the input (8x for
            the default four widths).

    Raises:
        ValueError: If ``block_out_channels`` has fewer than one entry or a
            channel count is not positive.

    Source:
        MCLD paper Sec. 3; upstream ``src/models/pose_guider.py`` (used as
        ``PoseGuider(320, block_out_channels=(16, 32, 96, 256))``).
    """

    @register_to_config
    def __init__(
        self,
        conditioning_embedding_channels: int = 320,
        conditioning_channels: int = 3,
        block_out_channels: Sequence[int] = (16, 32, 96, 256),
    ):
        super().__init__()
        widths = [int(c) for c in block_out_channels]
        if not widths or min(widths) <= 0 or conditioning_channels <= 0 or conditioning_embedding_channels <= 0:
            raise ValueError(
                f"PoseGuider needs positive channel counts, got conditioning_channels={conditioning_channels}, "
                f"block_out_channels={tuple(block_out_channels)}, "
                f"conditioning_embedding_channels={conditioning_embedding_channels}"
            )
        self.conv_in = nn.Conv2d(conditioning_channels, widths[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(widths[-1], conditioning_embedding_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        """Encode a DensePose IUV image.

        Args:
            conditioning: ``(B, 3, H, W)`` float IUV image in ``[0, 1]``, channels in
                PIL order of the upstream files (R = V, G = U, B = part index / 255),
                no normalisation. ``H`` and ``W`` divisible by 8.

        Returns:
            ``(B, conditioning_embedding_channels, H / 8, W / 8)`` features, same
            dtype as the weights.

        Raises:
            ValueError: If ``conditioning`` is not 4-D with ``conditioning_channels``
                channels.
        """
        if conditioning.ndim != 4 or conditioning.shape[1] != self.config.conditioning_channels:
            raise ValueError(
                f"PoseGuider expects (B, {self.config.conditioning_channels}, H, W), got {tuple(conditioning.shape)}"
            )
        embedding = F.silu(self.conv_in(conditioning))
        for block in self.blocks:
            embedding = F.silu(block(embedding))
        return self.conv_out(embedding)
