"""Tiny MCLD components: deterministic random weights, and the golden folder loader.

``build_tiny_pipeline`` gives a complete :class:`~mcld.pipeline_mcld.MCLDPipeline`
with the module sizes of the tiny golden set (UNet widths 32/32/64/64,
cross-attention width 32, 2-layer CLIP, Resampler width 64 / depth 2), built
from the JSON configs shipped in ``mcld/configs/tiny`` and filled with
deterministic random weights. It runs the whole path in seconds on a CPU; its
images are noise-like, not people. Used by the app's tiny-weights mode and
by tests.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from diffusers import AutoencoderKL, DDIMScheduler
from torch import nn

from .loaders import FROM_CHECKPOINT, load_mcld_components
from .models.face_resampler import FaceResampler
from .models.pose_guider import PoseGuider
from .models.unets import build_denoising_unet, build_reference_unet, load_config
from .pipeline_mcld import MCLDPipeline

__all__ = ["build_tiny_pipeline", "randomize_module", "load_pipeline_from_upstream_folder"]

#: Per-parameter gains: the pose guider output is scaled up so that the pose
#: features are of the same order as ``conv_in``'s output (as in the golden set).
_GAINS: Dict[str, Dict[str, float]] = {"pose_guider": {"conv_out.weight": 8.0}}
_SEED_OFFSETS = {"vae": 0, "image_encoder": 1, "reference_unet": 2, "denoising_unet": 3, "pose_guider": 4, "face_resampler": 5}


def _kwargs(config: Dict) -> Dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


@torch.no_grad()
def randomize_module(module: nn.Module, seed: int, gains: Optional[Dict[str, float]] = None) -> nn.Module:
    """Overwrite every parameter with deterministic, well-scaled random values.

    In ``named_parameters()`` order, from one CPU generator seeded with
    ``seed``: tensors with ``ndim >= 2`` get ``randn * gain / sqrt(fan_in)``
    (``fan_in`` = elements of one output slice; a Resampler ``latents`` gets
    ``randn / sqrt(dim)``), 1-D ``*weight`` (norm scales) ``1 + 0.1 * randn``,
    other 1-D tensors (biases) ``0.05 * randn``. Nothing stays zero, so every
    branch (zero-initialised pose guider output, IP projections) is active.

    Args:
        module: Module to fill in place.
        seed: Generator seed.
        gains: Optional ``{parameter name: gain}``.

    Returns:
        ``module``.
    """
    generator = torch.Generator().manual_seed(seed)
    gains = gains or {}
    for name, param in module.named_parameters():
        if param.ndim >= 2:
            if name == "latents":
                value = torch.randn(param.shape, generator=generator) / math.sqrt(param.shape[-1])
            else:
                fan_in = param[0].numel()
                value = torch.randn(param.shape, generator=generator) * gains.get(name, 1.0) / math.sqrt(fan_in)
        elif name.endswith("weight"):
            value = 1 + 0.1 * torch.randn(param.shape, generator=generator)
        else:
            value = 0.05 * torch.randn(param.shape, generator=generator)
        param.copy_(value.to(param.dtype))
    return module


def build_tiny_pipeline(
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    execution_mode: str = "reference",
    torch_dtype: torch.dtype = torch.float32,
) -> MCLDPipeline:
    """A complete MCLD pipeline with tiny random weights (no download).

    Args:
        seed: Base seed of the weights (module ``i`` uses ``seed + offset_i``);
            the same seed always gives the same weights.
        device: Target device.
        execution_mode: ``"reference"`` or ``"fast"``.
        torch_dtype: Weight dtype.

    Returns:
        :class:`MCLDPipeline` with the golden set's tiny sizes; works at any
        ``height``/``width`` multiple of 64 (tests use 64x64).
    """
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    unet_config = load_config("tiny/unet_config.json")
    vae = AutoencoderKL(**_kwargs(load_config("tiny/vae_config.json")))
    encoder_cfg = _kwargs(load_config("tiny/image_encoder_config.json"))
    encoder_cfg.pop("model_type", None)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**encoder_cfg))
    modules = {
        "vae": vae,
        "image_encoder": image_encoder,
        "reference_unet": build_reference_unet(unet_config),
        "denoising_unet": build_denoising_unet(unet_config),
        "pose_guider": PoseGuider(**_kwargs(load_config("tiny/pose_guider_config.json"))),
        "face_resampler": FaceResampler(**_kwargs(load_config("tiny/face_resampler_config.json"))),
    }
    for name, module in modules.items():
        randomize_module(module, seed + _SEED_OFFSETS[name], _GAINS.get(name))
        module.eval()
    scheduler = DDIMScheduler.from_config(load_config("ddim_scheduler_config.json"))
    pipe = MCLDPipeline(scheduler=scheduler, execution_mode=execution_mode, **modules)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to_device_dtype(device, torch_dtype)


def load_pipeline_from_upstream_folder(
    path: Union[str, Path],
    device: Union[str, torch.device] = "cpu",
    torch_dtype: torch.dtype = torch.float32,
    execution_mode: str = "reference",
    cache_dir: Optional[Union[str, Path]] = None,
    convert: bool = False,
) -> MCLDPipeline:
    """Load a folder in the golden / upstream-test layout.

    Layout: ``vae/`` (``AutoencoderKL.save_pretrained``), ``image_encoder/``
    (``CLIPVisionModelWithProjection.save_pretrained``), ``unet_config.json``
    (the 2D UNet config of both UNets), ``scheduler_config.json`` (DDIM), and
    the four upstream ``.pth`` files. The pose guider and Resampler sizes are
    read from the checkpoint shapes. Loaded by the one checkpoint loader,
    :func:`mcld.loaders.load_mcld_components`, in float32, then cast.

    Args:
        path: The folder.
        device: Target device.
        torch_dtype: Weight dtype.
        execution_mode: ``"reference"`` or ``"fast"``.
        cache_dir: Safetensors cache (only used when ``convert``).
        convert: Write converted safetensors to the cache.

    Returns:
        The pipeline.

    Raises:
        WeightsNotFoundError: If a part is missing.
        CheckpointError: If a file is corrupt or mismatched.
    """
    folder = Path(path)
    components = load_mcld_components(
        folder,
        vae=folder / "vae",
        image_encoder=folder / "image_encoder",
        unet_config=folder / "unet_config.json",
        scheduler_config=folder / "scheduler_config.json",
        pose_guider_config=FROM_CHECKPOINT,
        face_resampler_config=FROM_CHECKPOINT,
        torch_dtype=torch.float32,
        cache_dir=cache_dir,
        convert=convert,
        fp16_cache=False,
    )
    pipe = MCLDPipeline(**components, execution_mode=execution_mode)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to_device_dtype(device, torch_dtype)
