"""Builders for MCLD's two UNets on a stock ``diffusers.UNet2DConditionModel``.

Source:
    Upstream ``jqliu09/MCLD`` ``src/models/unet_2d_condition.py`` (reference UNet
    without ``conv_norm_out``/``conv_out``, L638-657) and
    ``src/models/unet_3d_diff_prompt.py`` (denoising UNet; with one frame and no
    motion modules numerically a 2D UNet, MCLD_REFERENCE_FACTS s2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .attention_processors import add_multi_focal_ip_processors

__all__ = [
    "config_path",
    "load_config",
    "unet_2d_config",
    "build_reference_unet",
    "build_denoising_unet",
    "strip_reference_unet_head",
]

_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
_3D_TO_2D = {
    "CrossAttnDownBlock3D": "CrossAttnDownBlock2D",
    "DownBlock3D": "DownBlock2D",
    "UNetMidBlock3DCrossAttn": "UNetMidBlock2DCrossAttn",
    "UpBlock3D": "UpBlock2D",
    "CrossAttnUpBlock3D": "CrossAttnUpBlock2D",
}


def config_path(name: str) -> Path:
    """Path of a JSON config shipped in ``mcld/configs`` (e.g. ``"sd15_unet_config.json"``,
    ``"tiny/unet_config.json"``).

    Raises:
        FileNotFoundError: If no such config ships with the package.
    """
    path = _CONFIG_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no shipped config {name!r} under {_CONFIG_DIR}")
    return path


def load_config(name_or_path: Union[str, Path]) -> Dict[str, Any]:
    """Read a JSON config: a shipped name (see :func:`config_path`) or a file path."""
    path = Path(name_or_path)
    if not path.is_file():
        path = config_path(str(name_or_path))
    return json.loads(path.read_text())


def unet_2d_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Keep the ``UNet2DConditionModel`` keys of a (2D or upstream 3D) UNet config.

    3D block names are mapped to their 2D twins and keys the 2D class does not
    know (motion-module settings, ``_class_name`` ...) are dropped.
    """
    known = set(UNet2DConditionModel.extract_init_dict(dict(config))[0].keys())
    out = {k: v for k, v in config.items() if k in known}
    for key in ("down_block_types", "up_block_types"):
        if key in out:
            out[key] = [_3D_TO_2D.get(b, b) for b in out[key]]
    if "mid_block_type" in out:
        out["mid_block_type"] = _3D_TO_2D.get(out["mid_block_type"], out["mid_block_type"])
    return out


def strip_reference_unet_head(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """Remove ``conv_norm_out``/``conv_act``/``conv_out`` (upstream's reference UNet has none).

    Its forward then returns the last up-block features, which MCLD discards;
    the state-dict key set equals upstream ``reference_unet.pth``.
    """
    unet.conv_norm_out = None
    unet.conv_act = None
    unet.conv_out = nn.Identity()
    return unet


def build_reference_unet(config: Mapping[str, Any], device: Union[str, torch.device, None] = None) -> UNet2DConditionModel:
    """Build the ReferenceNet: an SD-1.5 style UNet without output head.

    Args:
        config: UNet config (e.g. ``load_config("sd15_unet_config.json")``).
        device: ``"meta"`` builds without allocating weights (key/shape checks).

    Returns:
        The reference UNet, random init, float32.
    """
    with torch.device(device or "cpu"):
        unet = UNet2DConditionModel(**unet_2d_config(config))
    return strip_reference_unet_head(unet)


def build_denoising_unet(
    config: Mapping[str, Any],
    num_face_tokens: int = 16,
    ip_scale: float = 0.5,
    device: Union[str, torch.device, None] = None,
) -> UNet2DConditionModel:
    """Build the denoising UNet: SD-1.5 UNet + multi-focal IP cross-attention processors.

    Args:
        config: UNet config.
        num_face_tokens: Face tokens read by ``to_k_ip``/``to_v_ip`` (16).
        ip_scale: Face-attention weight (0.5).
        device: ``"meta"`` builds without allocating weights.

    Returns:
        The denoising UNet with :class:`~mcld.models.attention_processors.MultiFocalIPAttnProcessor`
        on every ``attn2`` (their weights are part of its state dict).
    """
    with torch.device(device or "cpu"):
        unet = UNet2DConditionModel(**unet_2d_config(config))
        add_multi_focal_ip_processors(unet, num_tokens=num_face_tokens, scale=ip_scale)
    return unet
