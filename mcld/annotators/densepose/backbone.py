"""ResNet (FrozenBN) + FPN backbone of DensePose R-CNN, detectron2 parameter names.

Module tree (state_dict prefixes): ``bottom_up.stem.conv1``,
``bottom_up.res{2..5}.{i}.{conv1,conv2,conv3,shortcut}`` (each conv with a
``norm`` FrozenBN), ``fpn_lateral{2..5}``, ``fpn_output{2..5}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DensePoseConfig

__all__ = ["FrozenBatchNorm2d", "Conv2dNorm", "ResNet", "FPN"]


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine parameters (all buffers).

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias``.

    Args:
        num_features: Channels ``C`` of the ``(B, C, H, W)`` input.
        eps: Added to the variance, 1e-5.

    Source:
        detectron2 ``detectron2/layers/batch_norm.py`` ``FrozenBatchNorm2d``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` float -> same shape."""
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )


class Conv2dNorm(nn.Conv2d):
    """``nn.Conv2d`` with an optional ``norm`` child and ReLU, as detectron2's
    ``layers.Conv2d`` wrapper (so weights are named ``<conv>.weight``,
    ``<conv>.norm.*``).

    Args:
        *args, **kwargs: ``nn.Conv2d`` arguments.
        norm: Module applied after the conv, or ``None``.
        relu: Apply ReLU last.

    Source:
        detectron2 ``detectron2/layers/wrappers.py`` ``Conv2d``.
    """

    def __init__(self, *args, norm: nn.Module | None = None, relu: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H', W')``."""
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.relu:
            x = F.relu(x)
        return x


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, relu: bool = False) -> Conv2dNorm:
    return Conv2dNorm(
        c_in, c_out, k, stride=stride, padding=(k - 1) // 2, bias=False, norm=FrozenBatchNorm2d(c_out), relu=relu
    )


class BasicStem(nn.Module):
    """7x7/2 conv (no bias) + FrozenBN + ReLU + 3x3/2 max-pool (stride 4 total).

    Source:
        detectron2 ``detectron2/modeling/backbone/resnet.py`` ``BasicStem``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = _conv_bn(in_channels, out_channels, 7, stride=2, relu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, C, ceil(H/4), ceil(W/4))``."""
        return F.max_pool2d(self.conv1(x), kernel_size=3, stride=2, padding=1)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 bottleneck with FrozenBN, projection shortcut when the
    width changes; stride in the first 1x1 conv (``STRIDE_IN_1X1``) or the 3x3.

    Source:
        detectron2 ``detectron2/modeling/backbone/resnet.py`` ``BottleneckBlock``.
    """

    def __init__(self, c_in: int, c_out: int, c_mid: int, stride: int, stride_in_1x1: bool = True):
        super().__init__()
        self.shortcut = _conv_bn(c_in, c_out, 1, stride=stride) if c_in != c_out else None
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv_bn(c_in, c_mid, 1, stride=s1, relu=True)
        self.conv2 = _conv_bn(c_mid, c_mid, 3, stride=s3, relu=True)
        self.conv3 = _conv_bn(c_mid, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H/s, W/s)``."""
        out = self.conv3(self.conv2(self.conv1(x)))
        short = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + short)


class ResNet(nn.Module):
    """ResNet-50/101 bottom-up network returning res2..res5 (strides 4..32).

    Source:
        detectron2 ``detectron2/modeling/backbone/resnet.py`` ``ResNet``,
        ``build_resnet_backbone``.
    """

    def __init__(self, cfg: DensePoseConfig):
        super().__init__()
        self.stem = BasicStem(3, cfg.stem_out_channels)
        c_in = cfg.stem_out_channels
        stages = zip(cfg.num_blocks, cfg.stage_out_channels, cfg.stage_bottleneck_channels)
        for i, (n, c_out, c_mid) in enumerate(stages):
            blocks = []
            for b in range(n):
                stride = 2 if (b == 0 and i > 0) else 1
                blocks.append(BottleneckBlock(c_in, c_out, c_mid, stride, cfg.stride_in_1x1))
                c_in = c_out
            self.add_module(f"res{i + 2}", nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` normalised BGR (H, W multiples of 32) -> ``[res2, res3, res4, res5]``."""
        x = self.stem(x)
        outs = []
        for name in ("res2", "res3", "res4", "res5"):
            x = getattr(self, name)(x)
            outs.append(x)
        return outs


class FPN(nn.Module):
    """Feature pyramid p2..p6 (``LastLevelMaxPool`` top block), sum fusion,
    nearest x2 upsampling of the pre-output-conv sum.

    Source:
        detectron2 ``detectron2/modeling/backbone/fpn.py`` ``FPN``,
        ``LastLevelMaxPool``, ``build_resnet_fpn_backbone``.
    """

    def __init__(self, cfg: DensePoseConfig):
        super().__init__()
        self.bottom_up = ResNet(cfg)
        c = cfg.fpn_out_channels
        for stage, c_in in zip(range(2, 6), cfg.stage_out_channels):
            self.add_module(f"fpn_lateral{stage}", nn.Conv2d(c_in, c, 1))
            self.add_module(f"fpn_output{stage}", nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, H, W)`` -> ``{"p2": (B, C, H/4, W/4), ..., "p6": (B, C, H/64, W/64)}``."""
        res = self.bottom_up(x)
        prev = self.fpn_lateral5(res[3])
        outs = {"p5": self.fpn_output5(prev)}
        for stage in (4, 3, 2):
            prev = getattr(self, f"fpn_lateral{stage}")(res[stage - 2]) + F.interpolate(
                prev, scale_factor=2.0, mode="nearest"
            )
            outs[f"p{stage}"] = getattr(self, f"fpn_output{stage}")(prev)
        outs["p6"] = F.max_pool2d(outs["p5"], kernel_size=1, stride=2, padding=0)
        return {k: outs[k] for k in ("p2", "p3", "p4", "p5", "p6")}
