"""Finding, reading and converting DensePose weights, with no code execution.

Formats read by :func:`load_state_dict_file`:

* detectron2 model-zoo ``.pkl`` (``{'model': OrderedDict(name -> ndarray),
  '__author__': ...}``) through :class:`RestrictedUnpickler`, which allows only
  the globals needed to rebuild an ``OrderedDict`` of numpy arrays;
* ``.pth`` / ``.pt`` via ``torch.load(weights_only=True)``;
* ``.safetensors``.

:func:`resolve_weights` finds a file: a local path, a model-zoo name (official
URL, downloaded once into ``$MCLD_CACHE`` or ``~/.cache/mcld``), or a Hugging
Face Hub repo id + filename. :func:`cached_safetensors` converts a ``.pkl`` /
``.pth`` once into a safetensors file in the cache so later loads are fast.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ...errors import CheckpointError, WeightsNotFoundError
from ...hub_files import offline_requested

__all__ = [
    "MODEL_ZOO",
    "IGNORED_KEY_PREFIXES",
    "RestrictedUnpickler",
    "cache_dir",
    "load_pickle_checkpoint",
    "load_state_dict_file",
    "cached_safetensors",
    "resolve_weights",
    "match_state_dict",
]

#: Official DensePose IUV checkpoints: name -> (filename, URL).
MODEL_ZOO: dict[str, tuple[str, str]] = {
    "R_50_FPN_s1x": (
        "model_final_162be9.pkl",
        "https://dl.fbaipublicfiles.com/densepose/densepose_rcnn_R_50_FPN_s1x/165712039/model_final_162be9.pkl",
    ),
    "R_101_FPN_DL_s1x": (
        "model_final_844d15.pkl",
        "https://dl.fbaipublicfiles.com/densepose/densepose_rcnn_R_101_FPN_DL_s1x/165712116/model_final_844d15.pkl",
    ),
}

#: Keys old checkpoints may hold that the model does not use (recomputed from the config).
IGNORED_KEY_PREFIXES = ("pixel_mean", "pixel_std", "proposal_generator.anchor_generator.cell_anchors.")


def _numpy_reconstruct():
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(mod)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy has no multiarray._reconstruct")  # pragma: no cover


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds ``OrderedDict``s of numpy arrays.

    Allowed globals: ``collections.OrderedDict``,
    ``numpy.core.multiarray._reconstruct`` (and its ``numpy._core`` alias),
    ``numpy.ndarray``, ``numpy.dtype``. Anything else (``os.system``,
    ``builtins.eval``, ...) raises :class:`~mcld.errors.CheckpointError`
    before it is imported, so a malicious pickle cannot run code.

    Source:
        Our own; the format is what detectron2 ``DetectionCheckpointer._load_file``
        (``detectron2/checkpoint/detection_checkpoint.py``) reads with ``pickle.load``.
    """

    def find_class(self, module: str, name: str):
        """Resolve an allowed global; raise :class:`CheckpointError` otherwise."""
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _numpy_reconstruct()
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        raise CheckpointError(
            "The DensePose weight file contains unexpected code and was not loaded.",
            detail=f"forbidden pickle global {module}.{name}",
        )


def load_pickle_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a detectron2 model-zoo ``.pkl`` with :class:`RestrictedUnpickler`.

    Args:
        path: ``.pkl`` file.

    Returns:
        ``{name: ndarray}`` (``'model'`` entry when the file is a wrapper dict,
        the top-level dict otherwise); non-array entries are dropped.

    Raises:
        CheckpointError: unreadable, truncated, forbidden globals, or no arrays.

    Source:
        detectron2 ``detectron2/checkpoint/detection_checkpoint.py`` ``_load_file``
        (``pickle.load(f, encoding="latin1")``, ``'model'`` + ``'__author__'``).
    """
    try:
        with open(path, "rb") as fh:
            data = RestrictedUnpickler(fh, encoding="latin1").load()
    except CheckpointError as err:
        err.detail = f"{err.detail}; file {path}"
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as err:
        raise CheckpointError(
            "The DensePose weight file is damaged or not a detectron2 checkpoint.", detail=f"{path}: {err}"
        ) from err
    if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
        data = data["model"]
    if not isinstance(data, dict):
        raise CheckpointError(
            "The DensePose weight file is not a detectron2 checkpoint.", detail=f"{path}: top level {type(data)}"
        )
    arrays = {str(k): v for k, v in data.items() if isinstance(v, np.ndarray)}
    if not arrays:
        raise CheckpointError("The DensePose weight file holds no weights.", detail=str(path))
    return arrays


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``.pkl``, ``.pth``/``.pt`` or ``.safetensors`` weights as CPU tensors.

    Args:
        path: Weight file; the format is chosen by suffix (``.pkl`` for anything
            that is not ``.safetensors``/``.pth``/``.pt``/``.bin``).

    Returns:
        ``{detectron2 name: tensor}``; ``.pth`` files holding ``{'model': ...}``
        are unwrapped.

    Raises:
        WeightsNotFoundError: the file does not exist.
        CheckpointError: unreadable or unsafe file.

    Source:
        Our own (formats: detectron2 model zoo, ``torch.save(state_dict)``).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError("The DensePose weight file was not found.", detail=str(path))
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError("The DensePose weight file is damaged.", detail=f"{path}: {err}") from err
    if suffix in (".pth", ".pt", ".bin"):
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
            raise CheckpointError(
                "The DensePose weight file is damaged or not a plain state_dict.", detail=f"{path}: {err}"
            ) from err
        if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
            data = data["model"]
        if not isinstance(data, dict):
            raise CheckpointError("The DensePose weight file is not a state_dict.", detail=str(path))
        return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}
    arrays = load_pickle_checkpoint(path)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def cache_dir() -> Path:
    """Cache folder: ``$MCLD_CACHE`` or ``~/.cache/mcld`` (created lazily by callers)."""
    return Path(os.environ.get("MCLD_CACHE") or Path.home() / ".cache" / "mcld")


def cached_safetensors(path: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """Convert a ``.pkl``/``.pth`` once to safetensors in the cache; return its path.

    The cache name carries a hash of the source's absolute path, size and
    mtime, so an edited or different file is converted again. A
    ``.safetensors`` input is returned unchanged.

    Args:
        path: Source weight file.
        folder: Cache folder (default ``cache_dir() / "densepose"``).

    Raises:
        WeightsNotFoundError, CheckpointError: as :func:`load_state_dict_file`.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return path
    if not path.is_file():
        raise WeightsNotFoundError("The DensePose weight file was not found.", detail=str(path))
    st = path.stat()
    tag = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    folder = Path(folder) if folder is not None else cache_dir() / "densepose"
    out = folder / f"{path.stem}-{tag}.safetensors"
    if out.is_file():
        return out
    state = load_state_dict_file(path)
    state = {k: v.contiguous() for k, v in state.items() if not k.startswith(IGNORED_KEY_PREFIXES)}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    save_file(state, str(tmp), metadata={"source": path.name, "format": "detectron2 DensePose state_dict"})
    os.replace(tmp, out)
    return out


def resolve_weights(
    name_or_path: str | os.PathLike,
    filename: str | None = None,
    *,
    local_files_only: bool | None = None,
) -> Path:
    """Find a DensePose weight file, downloading it if allowed.

    Args:
        name_or_path: An existing local file; a model-zoo name in
            :data:`MODEL_ZOO` (``"R_101_FPN_DL_s1x"``, ``"R_50_FPN_s1x"``),
            fetched from its official URL into ``cache_dir() / "densepose"``;
            or a Hugging Face Hub repo id ``"owner/name"`` with ``filename``.
        filename: File inside the Hub repo (default: the R_101_FPN_DL_s1x file
            name ``model_final_844d15.pkl``).
        local_files_only: Never download. ``None`` reads ``HF_HUB_OFFLINE`` /
            ``MCLD_OFFLINE``.

    Returns:
        Path of a local file.

    Raises:
        WeightsNotFoundError: not on disk and not downloadable (offline, no
            network, unknown repo); the message names the file and where it
            would come from.

    Source:
        URLs: detectron2 ``projects/DensePose/doc/DENSEPOSE_IUV.md`` model zoo.
    """
    offline = offline_requested(local_files_only)
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path)
    if name in MODEL_ZOO:
        fname, url = MODEL_ZOO[name]
        target = cache_dir() / "densepose" / fname
        if target.is_file():
            return target
        hint = f"download {url} and put it at {target} (or set MCLD_CACHE)"
        if offline:
            raise WeightsNotFoundError(
                f"The DensePose weights {fname} are missing and downloads are off; {hint}.", detail=name
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except Exception as err:  # network errors come in many types (URLError, HTTPError, OSError, ...)
            raise WeightsNotFoundError(
                f"The DensePose weights {fname} could not be downloaded; {hint}.", detail=f"{url}: {err}"
            ) from err
        return target
    looks_like_file = path.suffix.lower() in (".pkl", ".pth", ".pt", ".bin", ".safetensors")
    if looks_like_file or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise WeightsNotFoundError("The DensePose weight file was not found.", detail=f"no such file: {name}")
    if name.count("/") == 1:
        fname = filename or MODEL_ZOO["R_101_FPN_DL_s1x"][0]
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(name, fname, local_files_only=offline))
        except Exception as err:  # hub raises several error types (offline, 404, network)
            raise WeightsNotFoundError(
                f"The DensePose weights {fname} were not found in the Hugging Face repo {name}"
                + (" and downloads are off" if offline else "")
                + ".",
                detail=str(err),
            ) from err
    raise WeightsNotFoundError(
        f"Unknown DensePose model {name!r}; use a file path, one of {sorted(MODEL_ZOO)}, or a Hub repo id.",
        detail=name,
    )


def match_state_dict(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> dict:
    """Check ``state_dict`` against ``model`` strictly (ignoring
    :data:`IGNORED_KEY_PREFIXES`) and return the dict to load.

    Args:
        model: Target module.
        state_dict: Tensors by detectron2 name.
        source: Name of the file, for messages.

    Returns:
        ``{name: float tensor}`` with exactly the model's keys and shapes.

    Raises:
        CheckpointError: missing or unexpected keys, or shape mismatches
            (:func:`mcld.weights.check_state_dict` names them).

    Source:
        detectron2 ``detectron2/checkpoint/detection_checkpoint.py`` ``_load_model``
        (which ignores the same keys).
    """
    from ...weights import check_state_dict  # the one strict key/shape check of the package

    expected = model.state_dict()
    state = {k: v for k, v in state_dict.items() if not k.startswith(IGNORED_KEY_PREFIXES)}
    # the file name only: the message reaches visitors, paths stay in logs
    name = os.path.basename(str(source))
    check_state_dict("DensePose", model, {k: torch.as_tensor(v) for k, v in state.items()}, source=name)
    return {k: torch.as_tensor(v).to(dtype=expected[k].dtype) for k, v in state.items()}
