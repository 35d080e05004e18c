"""Finding, checking, converting and loading MCLD weights.

The released MCLD checkpoint (Hub ``Lotior/mcld``, or a local folder) is four
plain PyTorch ``state_dict`` files (MCLD_REFERENCE_FACTS s3):

==================  ==========================================================
component           file(s)
==================  ==========================================================
``denoising_unet``  ``denoising_unet.pth`` (SD-1.5 UNet + 32 IP matrices)
``reference_unet``  ``reference_unet.pth`` (SD-1.5 UNet without output head)
``pose_guider``     ``pose_guider.pth``
``face_resampler``  ``image_proj_model.pth`` (loader name) or
                    ``image_projector.pth`` (README name)
==================  ==========================================================

plus two standard components loaded with ``from_pretrained``: the VAE
(``stabilityai/sd-vae-ft-mse``) and the CLIP image encoder
(``lambdalabs/sd-image-variations-diffusers``, subfolder ``image_encoder``).

Pickle files are read only with ``torch.load(..., weights_only=True)``. After a
file passed the strict key and shape check it is converted once to
safetensors in a cache folder (optionally float16); later loads read the
safetensors and do no unpickling at all.

Source:
    Upstream ``jqliu09/MCLD`` ``validation/pipeline_loader.py`` L33-100 (file
    names, strictness) and README (``image_projector.pth``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .errors import CheckpointError, WeightsNotFoundError

__all__ = [
    "DEFAULT_MCLD_WEIGHTS",
    "DEFAULT_VAE",
    "DEFAULT_IMAGE_ENCODER",
    "CHECKPOINT_FILES",
    "ALLOWED_UNUSED_KEYS",
    "WeightStatus",
    "default_cache_dir",
    "read_state_dict",
    "check_state_dict",
    "resolve_checkpoint",
    "convert_to_safetensors",
    "load_component_weights",
    "load_vae",
    "load_image_encoder",
    "weights_status",
    "describe_missing_weights",
]

#: Hub repository (or local folder) of the four MCLD checkpoint files.
DEFAULT_MCLD_WEIGHTS = "Lotior/mcld"
#: VAE used by MCLD (``configs/train/train.yaml`` ``pretrained_vae_path``).
DEFAULT_VAE = "stabilityai/sd-vae-ft-mse"
#: Repository holding the CLIP ViT-L/14 image encoder (subfolder ``image_encoder``).
DEFAULT_IMAGE_ENCODER = "lambdalabs/sd-image-variations-diffusers"

#: Accepted file names per component, in order of preference.
CHECKPOINT_FILES: Dict[str, Tuple[str, ...]] = {
    "denoising_unet": ("denoising_unet.pth",),
    "reference_unet": ("reference_unet.pth",),
    "pose_guider": ("pose_guider.pth",),
    "face_resampler": ("image_proj_model.pth", "image_projector.pth"),
}

#: Keys a checkpoint may hold that our module deliberately does not use. A
#: stock SD-1.5 UNet file has an output head that the reference UNet lacks
#: (MCLD_REFERENCE_FACTS s2: upstream's reference UNet has no
#: ``conv_norm_out``/``conv_out`` and discards its output).
ALLOWED_UNUSED_KEYS: Dict[str, Tuple[str, ...]] = {
    "reference_unet": ("conv_norm_out.weight", "conv_norm_out.bias", "conv_out.weight", "conv_out.bias"),
}

_USER_HINT = "Check the weights folder or repository, or delete the file so that it is downloaded again."


def default_cache_dir() -> Path:
    """Folder for converted safetensors: ``$MCLD_CACHE`` or ``~/.cache/mcld``."""
    return Path(os.environ.get("MCLD_CACHE", Path.home() / ".cache" / "mcld"))


# Reading and checking -----------------------------------------------------------


def read_state_dict(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Read a flat ``state_dict`` from ``.safetensors`` or a PyTorch pickle.

    Pickles are read with ``torch.load(map_location="cpu", weights_only=True)``
    only (no arbitrary code). A ``{"state_dict": ...}`` or ``{"module.": ...}``
    wrapper is not unwrapped: upstream files have none (facts s3).

    Args:
        path: File path.

    Returns:
        ``{key: tensor}`` on the CPU.

    Raises:
        WeightsNotFoundError: If the file does not exist.
        CheckpointError: If it is empty, truncated, corrupt, not a state dict,
            or holds non-tensor values.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"A weight file is missing: {path.name}.", str(path))
    if path.stat().st_size == 0:
        raise CheckpointError(f"The weight file {path.name} is empty. {_USER_HINT}", str(path))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(
            f"The weight file {path.name} is corrupt or truncated. {_USER_HINT}", f"{path}: {type(err).__name__}: {err}"
        ) from err
    except Exception as err:  # safetensors raises its own SafetensorError
        raise CheckpointError(
            f"The weight file {path.name} could not be read. {_USER_HINT}", f"{path}: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"The weight file {path.name} holds no weights. {_USER_HINT}", str(path))
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"The weight file {path.name} is not a plain state dict. {_USER_HINT}", f"non-tensor entries: {bad[:5]}"
        )
    return dict(state)


def _short_list(keys: Sequence[str], limit: int = 20) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def check_state_dict(
    component: str,
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    allowed_unused: Iterable[str] = (),
    source: str = "",
) -> Dict[str, torch.Tensor]:
    """Strictly compare a checkpoint with a module's keys and shapes.

    Args:
        component: Name used in messages (e.g. ``"denoising_unet"``).
        module: The target module (may live on the ``meta`` device).
        state_dict: Checkpoint tensors.
        allowed_unused: Checkpoint keys that may be present and are dropped.
        source: File name for messages.

    Returns:
        ``state_dict`` without the allowed unused keys.

    Raises:
        CheckpointError: Naming every missing key, every unexpected key and every
            shape mismatch (``key: file shape vs model shape``).
    """
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    allowed = set(allowed_unused)
    kept = {k: v for k, v in state_dict.items() if not (k in allowed and k not in expected)}
    missing = sorted(set(expected) - set(kept))
    unexpected = sorted(set(kept) - set(expected))
    mismatched = sorted(
        f"{k}: file {tuple(kept[k].shape)} vs model {expected[k]}"
        for k in set(expected) & set(kept)
        if tuple(kept[k].shape) != expected[k]
    )
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_short_list(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_short_list(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): {_short_list(mismatched)}")
        name = source or component
        raise CheckpointError(
            f"The weight file {name} does not match the {component} model (wrong or incomplete checkpoint).",
            "; ".join(parts),
        )
    return kept


# Locating -----------------------------------------------------------------------


def _is_local(source: Union[str, Path]) -> bool:
    text = str(source)
    return Path(text).is_dir() or text.startswith((".", "/", "~")) or os.sep in text and not _looks_like_repo_id(text)


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))


def _cache_slug(source: Union[str, Path], subfolder: Optional[str] = None) -> str:
    """Cache folder name of one weights source: a local folder by its resolved
    path, a Hub repo by its id; a ``subfolder`` is part of the name (two
    checkpoints in subfolders of one repo must not share converted files)."""
    sub = str(subfolder).strip("/") if subfolder else ""
    if Path(str(source)).is_dir():
        resolved = str(Path(source).resolve() / sub) if sub else str(Path(source).resolve())
        return "local--" + hashlib.sha256(resolved.encode()).hexdigest()[:16]
    slug = "hub--" + str(source).replace("/", "--")
    return slug + "--" + sub.replace("/", "--") if sub else slug


def _cached_safetensors(
    component: str, source, cache_dir: Optional[Path], fp16: bool, subfolder: Optional[str] = None
) -> Path:
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    suffix = ".fp16.safetensors" if fp16 else ".safetensors"
    return cache_dir / _cache_slug(source, subfolder) / f"{component}{suffix}"


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{int(stat.st_mtime)}"


def _hub_blob_etag(path: Path) -> Optional[str]:
    """ETag of a file downloaded by ``hf_hub_download``: the Hub cache stores
    ``snapshots/<commit>/<file>`` as a link to ``blobs/<etag>``; None for any
    other path."""
    resolved = Path(path).resolve()
    return resolved.name if resolved.parent.name == "blobs" and resolved != Path(path).absolute() else None


def _hub_etag(repo_id: str, filename: str, subfolder: Optional[str], local_files_only: Optional[bool]) -> Optional[str]:
    """The Hub's current ETag of ``repo_id/[subfolder/]filename`` (one HEAD
    request, as ``hf_hub_download`` makes before using its cache), or None
    offline (``HF_HUB_OFFLINE``, ``local_files_only``) or on any error: then
    the converted cache is used as it is."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    if local_files_only or constants.is_offline_mode():
        return None
    try:
        return get_hf_file_metadata(hf_hub_url(repo_id, filename, subfolder=subfolder), timeout=10).etag
    except Exception:  # offline, timeout, missing repo: the cache stands
        return None


def resolve_checkpoint(
    component: str,
    source: Union[str, Path] = DEFAULT_MCLD_WEIGHTS,
    subfolder: Optional[str] = None,
    local_files_only: Optional[bool] = None,
) -> Path:
    """Find (or download) the pickle file of one MCLD component.

    Args:
        component: One of :data:`CHECKPOINT_FILES`.
        source: Local folder, or Hub repository id (downloaded with
            ``huggingface_hub.hf_hub_download``; honours ``HF_HUB_OFFLINE``).
        subfolder: Folder inside ``source`` holding the files.
        local_files_only: Passed to ``hf_hub_download``.

    Returns:
        Path of the first existing file name for ``component``.

    Raises:
        ValueError: For an unknown component.
        WeightsNotFoundError: If no accepted file name exists locally and none
            can be downloaded.
    """
    if component not in CHECKPOINT_FILES:
        raise ValueError(f"unknown component {component!r}; expected one of {sorted(CHECKPOINT_FILES)}")
    names = CHECKPOINT_FILES[component]
    if _is_local(source):
        folder = Path(source).expanduser() / (subfolder or "")
        for name in names:
            if (folder / name).is_file():
                return folder / name
        raise WeightsNotFoundError(
            f"The MCLD weight file {names[0]} was not found in the weights folder.",
            f"looked for {', '.join(names)} in {folder}",
        )
    from huggingface_hub import hf_hub_download

    errors = []
    for name in names:
        try:
            return Path(
                hf_hub_download(str(source), name, subfolder=subfolder, local_files_only=bool(local_files_only))
            )
        except Exception as err:  # offline, missing entry, missing repo, network
            errors.append(f"{name}: {type(err).__name__}: {err}")
    raise WeightsNotFoundError(
        f"The MCLD weight file {names[0]} could not be downloaded from {source} (offline or missing).",
        "; ".join(errors),
    )


def convert_to_safetensors(
    state_dict: Mapping[str, torch.Tensor],
    path: Union[str, Path],
    dtype: Optional[torch.dtype] = None,
    metadata: Optional[Dict[str, str]] = None,
) -> Path:
    """Write a state dict as safetensors (atomically: temp file, then rename).

    Args:
        state_dict: Tensors to write (made contiguous).
        path: Destination file.
        dtype: Cast floating tensors to this dtype (e.g. ``torch.float16``).
        metadata: String metadata stored in the header.

    Returns:
        ``path``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
        for k, v in state_dict.items()
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)
    return path


def load_component_weights(
    component: str,
    module: nn.Module,
    source: Union[str, Path] = DEFAULT_MCLD_WEIGHTS,
    subfolder: Optional[str] = None,
    cache_dir: Optional[Union[str, Path]] = None,
    convert: bool = True,
    fp16_cache: bool = False,
    local_files_only: Optional[bool] = None,
) -> nn.Module:
    """Load one MCLD component's checkpoint into ``module`` (strictly).

    Order: a converted safetensors in the cache (no unpickling), else the
    ``.pth`` from ``source`` (local folder or Hub), checked strictly, then
    (if ``convert``) written to the cache as safetensors for next time. A
    cached file that is unreadable or stale is ignored and rewritten: stale
    means its local source changed (size or mtime), or, online, that the Hub
    file's ETag is no longer the one it was converted from (one HEAD request
    per component, as ``hf_hub_download`` makes; offline the cache is used).

    Args:
        component: One of :data:`CHECKPOINT_FILES`.
        module: Target module; may be on the ``meta`` device (tensors are then
            assigned, not copied).
        source: Local folder or Hub repository id.
        subfolder: Folder inside ``source``.
        cache_dir: Safetensors cache (default :func:`default_cache_dir`).
        convert: Write the safetensors cache after a successful check.
        fp16_cache: Cache (and read) float16 safetensors instead of float32.
        local_files_only: Passed to the Hub download.

    Returns:
        ``module`` with the weights loaded.

    Raises:
        WeightsNotFoundError: If the file is neither local nor downloadable.
        CheckpointError: If the file is corrupt or keys/shapes do not match.
    """
    assign = any(p.is_meta for p in module.parameters())
    cached = _cached_safetensors(component, source, Path(cache_dir) if cache_dir else None, fp16_cache, subfolder)
    local_pth = None
    if _is_local(source):
        try:
            local_pth = resolve_checkpoint(component, source, subfolder)
        except WeightsNotFoundError:
            local_pth = None
    if cached.is_file():
        try:
            from safetensors import safe_open

            try:
                with safe_open(str(cached), framework="pt") as handle:
                    meta = handle.metadata() or {}
            except Exception as err:  # SafetensorError: truncated / not safetensors
                raise CheckpointError("The cached weight file is corrupt.", f"{cached}: {err}") from err
            if local_pth is not None:  # a local .pth that changed since the conversion
                stale = meta.get("source_fingerprint") != _fingerprint(local_pth)
            else:  # a Hub file whose ETag changed (new upload); unknown offline
                filename = meta.get("file") or CHECKPOINT_FILES[component][0]
                current = None if _is_local(source) else _hub_etag(str(source), filename, subfolder, local_files_only)
                stale = current is not None and meta.get("source_etag") != current
            if not stale:
                state = read_state_dict(cached)
                state = check_state_dict(component, module, state, ALLOWED_UNUSED_KEYS.get(component, ()), cached.name)
                module.load_state_dict(state, strict=True, assign=assign)
                return module
        except CheckpointError as err:
            warnings.warn(f"ignoring unusable cached weights {cached}: {err}", stacklevel=2)
    path = local_pth or resolve_checkpoint(component, source, subfolder, local_files_only)
    state = read_state_dict(path)
    state = check_state_dict(component, module, state, ALLOWED_UNUSED_KEYS.get(component, ()), path.name)
    module.load_state_dict(state, strict=True, assign=assign)
    if convert:
        try:
            convert_to_safetensors(
                state,
                cached,
                dtype=torch.float16 if fp16_cache else None,
                metadata={
                    "source": str(source),
                    "file": path.name,
                    "source_fingerprint": _fingerprint(path),
                    **({"source_etag": etag} if (etag := _hub_blob_etag(path)) else {}),
                },
            )
        except OSError as err:  # read-only cache: loading still succeeded
            warnings.warn(f"could not write the safetensors cache {cached}: {err}", stacklevel=2)
    return module


# Standard components ------------------------------------------------------------


def load_vae(source: Union[str, Path] = DEFAULT_VAE, torch_dtype: torch.dtype = torch.float32, **kwargs):
    """Load the ``AutoencoderKL`` (local folder or Hub repo id).

    Args:
        source: Folder with ``config.json`` + weights, or repo id
            (default ``stabilityai/sd-vae-ft-mse``).
        torch_dtype: Weight dtype.
        **kwargs: Passed to ``AutoencoderKL.from_pretrained``.

    Raises:
        WeightsNotFoundError: If it is neither local nor downloadable.
    """
    from diffusers import AutoencoderKL

    try:
        return AutoencoderKL.from_pretrained(str(source), torch_dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise WeightsNotFoundError(
            f"The VAE weights ({source}) are not available locally and could not be downloaded.", str(err)
        ) from err


def load_image_encoder(
    source: Union[str, Path] = DEFAULT_IMAGE_ENCODER,
    subfolder: Optional[str] = "image_encoder",
    torch_dtype: torch.dtype = torch.float32,
    **kwargs,
):
    """Load the ``CLIPVisionModelWithProjection`` image encoder.

    Args:
        source: Repo id (default ``lambdalabs/sd-image-variations-diffusers``) or
            a local folder: either the repository folder (with ``subfolder``)
            or the encoder folder itself (``config.json`` directly inside).
        subfolder: Subfolder inside ``source`` (ignored for a folder that holds
            ``config.json`` itself).
        torch_dtype: Weight dtype.

    Raises:
        WeightsNotFoundError: If it is neither local nor downloadable.
    """
    from transformers import CLIPVisionModelWithProjection

    if Path(str(source)).is_dir() and (Path(str(source)) / "config.json").is_file():
        subfolder = None
    try:
        extra = {"subfolder": subfolder} if subfolder else {}
        return CLIPVisionModelWithProjection.from_pretrained(str(source), dtype=torch_dtype, **extra, **kwargs)
    except (OSError, ValueError) as err:
        raise WeightsNotFoundError(
            f"The CLIP image encoder ({source}) is not available locally and could not be downloaded.", str(err)
        ) from err


# Start-up report ----------------------------------------------------------------


@dataclass(frozen=True)
class WeightStatus:
    """Whether one weight file or folder is available without a download.

    Attributes:
        component: ``"denoising_unet"``, ..., ``"vae"``, ``"image_encoder"``,
            ``"face_model"`` (insightface antelopev2 detector and recognizer).
        available: True if present locally (folder, Hub cache or safetensors cache).
        location: Where it is (or would be) read from.
        fetch_from: Where it will be downloaded from when missing (``None`` if
            the source is a local folder, which cannot be fetched).
    """

    component: str
    available: bool
    location: str
    fetch_from: Optional[str]


def _hub_cached(repo_id: str, filename: str) -> Optional[str]:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
    except Exception:
        return None
    return found if isinstance(found, str) else None


def _hub_cached_any(repo_id: str, filenames: Sequence[str]) -> Optional[str]:
    """Path of the first of ``filenames`` in the local Hub cache, else None."""
    return next((p for p in (_hub_cached(repo_id, n) for n in filenames) if p), None)


def weights_status(
    mcld_weights: Union[str, Path] = DEFAULT_MCLD_WEIGHTS,
    vae: Union[str, Path] = DEFAULT_VAE,
    image_encoder: Union[str, Path] = DEFAULT_IMAGE_ENCODER,
    cache_dir: Optional[Union[str, Path]] = None,
) -> List[WeightStatus]:
    """Check, without downloading, which weights are already on disk.

    Args:
        mcld_weights: Folder or repo id of the four MCLD files.
        vae: Folder or repo id of the VAE.
        image_encoder: Folder or repo id of the image encoder repository.
        cache_dir: Safetensors cache folder.

    Returns:
        One :class:`WeightStatus` per component (4 MCLD files, VAE, encoder,
        and the face model of :func:`mcld.annotators.face.locate_face_model`,
        present but not checked; :func:`mcld.annotators.face.ensure_face_model`
        checks it).
    """
    out = []
    for component, names in CHECKPOINT_FILES.items():
        # Either conversion (float32 or the float16 one of a float16 start) counts.
        candidates = [
            _cached_safetensors(component, mcld_weights, Path(cache_dir) if cache_dir else None, fp16)
            for fp16 in (False, True)
        ]
        cached = next((c for c in candidates if c.is_file()), candidates[0])
        if _is_local(mcld_weights):
            folder = Path(mcld_weights).expanduser()
            hit = next((folder / n for n in names if (folder / n).is_file()), None)
            out.append(WeightStatus(component, hit is not None, str(hit or folder / names[0]), None))
            continue
        hit = str(cached) if cached.is_file() else _hub_cached_any(str(mcld_weights), names)
        out.append(WeightStatus(component, hit is not None, hit or f"{mcld_weights}/{names[0]}", f"https://huggingface.co/{mcld_weights}"))
    # Weight files: either format counts (a repo may hold only the .bin).
    for component, source, files in (
        ("vae", vae, ("config.json", ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"))),
        ("image_encoder", image_encoder, ("config.json", ("model.safetensors", "pytorch_model.bin"))),
    ):
        if _is_local(source):
            folder = Path(source).expanduser()
            if component == "image_encoder" and not (folder / "config.json").is_file():
                folder = folder / "image_encoder"
            ok = (folder / "config.json").is_file()
            out.append(WeightStatus(component, ok, str(folder), None))
            continue
        prefix = "image_encoder/" if component == "image_encoder" else ""
        hits = [_hub_cached_any(str(source), [prefix + n for n in ((f,) if isinstance(f, str) else f)]) for f in files]
        ok = all(hits)
        out.append(WeightStatus(component, ok, hits[0] if ok else f"{source}/{prefix}", f"https://huggingface.co/{source}"))
    from .annotators.face import locate_face_model

    face_pack, face_source, face_url = locate_face_model()
    out.append(WeightStatus("face_model", face_pack is not None, str(face_pack or face_source), face_url))
    return out


def describe_missing_weights(
    mcld_weights: Union[str, Path] = DEFAULT_MCLD_WEIGHTS,
    vae: Union[str, Path] = DEFAULT_VAE,
    image_encoder: Union[str, Path] = DEFAULT_IMAGE_ENCODER,
    cache_dir: Optional[Union[str, Path]] = None,
) -> List[str]:
    """One human-readable line per missing weight, saying where it will come from.

    Args:
        mcld_weights: Folder or repo id of the four MCLD files.
        vae: Folder or repo id of the VAE.
        image_encoder: Folder or repo id of the image encoder repository.
        cache_dir: Safetensors cache folder.

    Returns:
        An empty list when everything is on disk; otherwise lines such as
        ``"denoising_unet: not on disk; will be downloaded from https://huggingface.co/Lotior/mcld"``
        or ``"vae: missing from local folder /path (cannot be downloaded)"``.
    """
    lines = []
    for status in weights_status(mcld_weights, vae, image_encoder, cache_dir):
        if status.available:
            continue
        if status.fetch_from:
            lines.append(f"{status.component}: not on disk; will be downloaded from {status.fetch_from}")
        else:
            lines.append(f"{status.component}: missing from local folder {status.location} (cannot be downloaded)")
    return lines
