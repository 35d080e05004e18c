"""The one MCLD checkpoint loader: upstream ``.pth`` files -> the seven pipeline components.

:func:`load_mcld_components` builds the ReferenceNet, the denoising UNet, the
pose guider and the face Resampler on the ``meta`` device, loads the four
upstream checkpoints into them strictly (:func:`mcld.weights.load_component_weights`:
safetensors cache first, no unpickling of cached files), and loads the two
standard components (SD VAE, CLIP image encoder) and the DDIM scheduler.
Both the released weights (``Lotior/mcld`` with the Hub VAE and image
encoder, :meth:`MCLDPipeline.from_mcld_checkpoints
<mcld.pipeline_mcld.MCLDPipeline.from_mcld_checkpoints>`) and a folder in the
golden / upstream-test layout (:func:`mcld.tiny.load_pipeline_from_upstream_folder`)
go through it.

Nothing is loaded at import time.

Source:
    Upstream ``jqliu09/MCLD`` @ 6279ff7 ``test.py`` (component construction and
    ``load_state_dict`` of ``denoising_unet.pth``, ``reference_unet.pth``,
    ``pose_guider.pth``, ``image_proj_model.pth``); ``configs/inference/inference_v3.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch
from diffusers import DDIMScheduler

from .models.face_resampler import FaceResampler
from .models.pose_guider import PoseGuider
from .models.unets import build_denoising_unet, build_reference_unet, load_config
from . import weights
from .weights import DEFAULT_IMAGE_ENCODER, DEFAULT_MCLD_WEIGHTS, DEFAULT_VAE

__all__ = [
    "FROM_CHECKPOINT",
    "COMPONENT_NAMES",
    "face_resampler_config_from_checkpoint",
    "load_mcld_components",
    "pose_guider_config_from_checkpoint",
]

#: Value of ``pose_guider_config`` / ``face_resampler_config`` that reads the
#: module sizes from the checkpoint's tensor shapes.
FROM_CHECKPOINT = "from_checkpoint"
#: Keys of the dict :func:`load_mcld_components` returns (the ``MCLDPipeline`` components).
COMPONENT_NAMES = (
    "vae", "image_encoder", "reference_unet", "denoising_unet", "pose_guider", "face_resampler", "scheduler",
)

ConfigLike = Union[str, Path, Mapping[str, Any], None]


def _kwargs(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Constructor kwargs of a JSON config: every key not starting with ``_``."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _read(config: Union[str, Path, Mapping[str, Any]]) -> Dict[str, Any]:
    return dict(config) if isinstance(config, Mapping) else load_config(config)


def pose_guider_config_from_checkpoint(
    source: Union[str, Path], subfolder: Optional[str] = None
) -> Dict[str, Any]:
    """:class:`PoseGuider` kwargs read from the shapes of a local ``pose_guider.pth``.

    Args:
        source: Local folder holding the checkpoint.
        subfolder: Folder inside ``source``.

    Returns:
        ``{"conditioning_embedding_channels", "conditioning_channels",
        "block_out_channels"}`` (ints, tuple of ints).

    Raises:
        WeightsNotFoundError: If the file is missing.
        CheckpointError: If it is unreadable.
    """
    state = weights.read_state_dict(weights.resolve_checkpoint("pose_guider", source, subfolder))
    widths = [state["conv_in.weight"].shape[0]] + [
        state[f"blocks.{i}.weight"].shape[0] for i in range(1, 100, 2) if f"blocks.{i}.weight" in state
    ]
    return {
        "conditioning_embedding_channels": state["conv_out.weight"].shape[0],
        "conditioning_channels": state["conv_in.weight"].shape[1],
        "block_out_channels": tuple(widths),
    }


def face_resampler_config_from_checkpoint(
    source: Union[str, Path], subfolder: Optional[str] = None
) -> Dict[str, Any]:
    """:class:`FaceResampler` kwargs read from the shapes of a local ``image_proj_model.pth``.

    The head width is not recoverable from shapes; it is taken from the
    shipped configuration (full or tiny) whose width and inner width match,
    else 64 when the inner width is a multiple of 64.

    Args:
        source: Local folder holding the checkpoint.
        subfolder: Folder inside ``source``.

    Returns:
        ``FaceResampler`` kwargs (``dim``, ``depth``, ``dim_head``, ``heads``,
        ``num_queries``, ``embedding_dim``, ``output_dim``, ``ff_mult``).

    Raises:
        WeightsNotFoundError: If the file is missing.
        CheckpointError: If it is unreadable.
    """
    state = weights.read_state_dict(weights.resolve_checkpoint("face_resampler", source, subfolder))
    dim = state["latents"].shape[-1]
    depth = len({k.split(".")[1] for k in state if k.startswith("layers.")})
    inner = state["layers.0.0.to_q.weight"].shape[0]
    dim_head = _dim_head_from(inner, dim)
    return {
        "dim": dim,
        "depth": depth,
        "dim_head": dim_head,
        "heads": inner // dim_head,
        "num_queries": state["latents"].shape[1],
        "embedding_dim": state["proj_in.weight"].shape[1],
        "output_dim": state["proj_out.weight"].shape[0],
        "ff_mult": state["layers.0.1.1.weight"].shape[0] // dim,
    }


def _dim_head_from(inner: int, dim: int) -> int:
    """Head width of the Resampler from the known configurations (full: 64 x 20 heads; tiny: 16 x 4)."""
    for config_name in ("face_resampler_config.json", "tiny/face_resampler_config.json"):
        cfg = load_config(config_name)
        if cfg["dim"] == dim and cfg["dim_head"] * cfg["heads"] == inner:
            return cfg["dim_head"]
    return 64 if inner % 64 == 0 else inner


def _module_kwargs(config, default: str, source, subfolder, from_checkpoint, **override) -> Dict[str, Any]:
    """Constructor kwargs: the shipped ``default`` with ``override``, a given dict/JSON, or the checkpoint's shapes."""
    if config is None:
        return _kwargs({**load_config(default), **override})
    if isinstance(config, str) and config == FROM_CHECKPOINT:
        return from_checkpoint(source, subfolder)
    return _kwargs(_read(config))


def load_mcld_components(
    source: Union[str, Path] = DEFAULT_MCLD_WEIGHTS,
    *,
    vae: Union[str, Path, torch.nn.Module] = DEFAULT_VAE,
    image_encoder: Union[str, Path, torch.nn.Module] = DEFAULT_IMAGE_ENCODER,
    unet_config: ConfigLike = None,
    scheduler_config: ConfigLike = None,
    pose_guider_config: ConfigLike = None,
    face_resampler_config: ConfigLike = None,
    torch_dtype: torch.dtype = torch.float32,
    subfolder: Optional[str] = None,
    cache_dir: Optional[Union[str, Path]] = None,
    convert: bool = True,
    fp16_cache: Optional[bool] = None,
    local_files_only: Optional[bool] = None,
) -> Dict[str, Any]:
    """Load the MCLD checkpoints and the standard components into the seven pipeline components.

    The four MCLD modules are built on the ``meta`` device and their upstream
    checkpoints loaded strictly (keys and shapes checked), from the
    safetensors cache when a valid converted copy exists. The VAE and image
    encoder come from ``from_pretrained`` (Hub or folder) in ``torch_dtype``;
    the MCLD modules keep the checkpoint dtype (float32, or float16 from an
    fp16 cache): cast them with :meth:`MCLDPipeline.to_device_dtype
    <mcld.pipeline_mcld.MCLDPipeline.to_device_dtype>`.

    Args:
        source: Local folder or Hub repo id holding ``denoising_unet.pth``,
            ``reference_unet.pth``, ``pose_guider.pth``, ``image_proj_model.pth``
            (or ``image_projector.pth``); default ``Lotior/mcld``.
        vae: Folder / repo id of the ``AutoencoderKL`` (default
            ``stabilityai/sd-vae-ft-mse``), or the module itself.
        image_encoder: Folder / repo id (subfolder ``image_encoder``) of the
            ``CLIPVisionModelWithProjection`` (default
            ``lambdalabs/sd-image-variations-diffusers``), or the module.
        unet_config: 2D UNet config of both UNets (dict or JSON path); default
            ``<source>/<subfolder>/unet_config.json`` when ``source`` is a local
            folder holding it, else the shipped SD-1.5 config.
        scheduler_config: DDIM config (dict or JSON path); default the shipped
            upstream ``inference_v3`` config. ``_comment*`` keys are dropped.
        pose_guider_config: :class:`PoseGuider` kwargs (dict or JSON path);
            default the upstream sizes with ``conditioning_embedding_channels``
            = the UNet's first width; :data:`FROM_CHECKPOINT` reads them from a
            local checkpoint's shapes.
        face_resampler_config: :class:`FaceResampler` kwargs; default the
            upstream sizes with ``output_dim`` = the UNet's
            ``cross_attention_dim``; :data:`FROM_CHECKPOINT` as above.
        torch_dtype: Dtype of the VAE and image encoder weights.
        subfolder: Folder inside ``source``.
        cache_dir: Safetensors conversion cache (:func:`mcld.weights.default_cache_dir`).
        convert: Write converted safetensors to the cache after a successful check.
        fp16_cache: Cache (and read) float16 safetensors (default: when
            ``torch_dtype`` is float16).
        local_files_only: Never try the network (MCLD files, VAE and image
            encoder; ``None``: the Hub default, i.e. ``HF_HUB_OFFLINE``).

    Returns:
        ``{name: component}`` for the names in :data:`COMPONENT_NAMES`, on the
        CPU, ready for ``MCLDPipeline(**components)``.

    Raises:
        WeightsNotFoundError: If a weight file is neither local nor downloadable
            (the message names the file and where it is fetched from).
        CheckpointError: If a file is corrupt or does not match the model.

    Source:
        Upstream ``test.py`` (construction and strict ``load_state_dict`` of the four modules).
    """
    local = Path(str(source)).is_dir()
    if unet_config is None:
        candidate = Path(str(source)) / (subfolder or "") / "unet_config.json"
        unet_config = candidate if local and candidate.is_file() else "sd15_unet_config.json"
    unet_cfg = _read(unet_config)
    sched_cfg = _read(scheduler_config if scheduler_config is not None else "ddim_scheduler_config.json")
    fp16_cache = (torch_dtype == torch.float16) if fp16_cache is None else fp16_cache
    common = dict(
        source=source,
        subfolder=subfolder,
        cache_dir=cache_dir,
        convert=convert,
        fp16_cache=fp16_cache,
        local_files_only=local_files_only,
    )
    reference_unet = weights.load_component_weights("reference_unet", build_reference_unet(unet_cfg, device="meta"), **common)
    denoising_unet = weights.load_component_weights("denoising_unet", build_denoising_unet(unet_cfg, device="meta"), **common)
    pose_kwargs = _module_kwargs(
        pose_guider_config, "pose_guider_config.json", source, subfolder, pose_guider_config_from_checkpoint,
        conditioning_embedding_channels=unet_cfg["block_out_channels"][0],
    )
    resampler_kwargs = _module_kwargs(
        face_resampler_config, "face_resampler_config.json", source, subfolder, face_resampler_config_from_checkpoint,
        output_dim=unet_cfg["cross_attention_dim"],
    )
    with torch.device("meta"):
        pose_guider = PoseGuider(**pose_kwargs)
        face_resampler = FaceResampler(**resampler_kwargs)
    pose_guider = weights.load_component_weights("pose_guider", pose_guider, **common)
    face_resampler = weights.load_component_weights("face_resampler", face_resampler, **common)
    # The standard components honour local_files_only too (offline start with a warm Hub cache).
    hub_kwargs = {} if local_files_only is None else {"local_files_only": bool(local_files_only)}
    vae_model = vae if isinstance(vae, torch.nn.Module) else weights.load_vae(vae, torch_dtype=torch_dtype, **hub_kwargs)
    encoder = (
        image_encoder
        if isinstance(image_encoder, torch.nn.Module)
        else weights.load_image_encoder(image_encoder, torch_dtype=torch_dtype, **hub_kwargs)
    )
    scheduler = DDIMScheduler.from_config({k: v for k, v in sched_cfg.items() if not k.startswith("_comment")})
    return {
        "vae": vae_model,
        "image_encoder": encoder,
        "reference_unet": reference_unet,
        "denoising_unet": denoising_unet,
        "pose_guider": pose_guider,
        "face_resampler": face_resampler,
        "scheduler": scheduler,
    }
