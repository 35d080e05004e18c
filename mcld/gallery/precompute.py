"""Real DensePose IUVs for the gallery's photo entries, computed once at
start-up and cached on disk.

A ``"photo"`` gallery entry (:mod:`mcld.gallery.entries`) is a pose taken
from a licensed photo. MCLD was trained on real DensePose IUVs, so such an
entry's target is the IUV our DensePose predicts on it with the real weights
(:meth:`mcld.pose_transfer.PoseTransfer.locate_person` then
:meth:`~mcld.pose_transfer.PoseTransfer.compute_iuv`, as a target photo
gets). That costs one DensePose pass per photo, so it runs once, before the
app launches, and the result is cached under ``$MCLD_CACHE/gallery_iuv``
(``~/.cache/mcld/gallery_iuv``), keyed by the photo's SHA-256 and the
DensePose model. In tiny mode, without DensePose weights, or when DensePose
finds nobody, the entry keeps its skeleton-drawn IUV, labelled.

Source:
    Our own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MCLDError
from .entries import GalleryPose

__all__ = ["default_gallery_cache_dir", "densepose_model_id", "precompute_gallery_iuvs"]

logger = logging.getLogger(__name__)


def default_gallery_cache_dir() -> Path:
    """``$MCLD_CACHE/gallery_iuv`` or ``~/.cache/mcld/gallery_iuv``.

    Source:
        Our own.
    """
    return Path(os.environ.get("MCLD_CACHE") or Path.home() / ".cache" / "mcld") / "gallery_iuv"


def densepose_model_id(predictor) -> str:
    """A short id of a DensePose predictor's architecture and weights.

    SHA-256 over the config, every parameter's name and shape, and the values
    of the first two and last four tensors of the state dict (the stem and
    the DensePose head's outputs): different weights give different ids
    without hashing the whole model.

    Args:
        predictor: A :class:`~mcld.annotators.densepose.DensePosePredictor`.

    Returns:
        16 hex digits.

    Source:
        Our own.
    """
    h = hashlib.sha256(repr(predictor.cfg).encode())
    state = list(predictor.model.state_dict().items())
    for key, tensor in state:
        h.update(f"{key}:{tuple(tensor.shape)};".encode())
    for _, tensor in state[:2] + state[-4:]:
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _fallback(pose: GalleryPose, reason: str) -> GalleryPose:
    note = f"Gallery pose '{pose.label}': its real DensePose IUV is not available ({reason}); the IUV is drawn from its skeleton."
    return dataclasses.replace(pose, notes=[*pose.notes, note])


def _read_cached(png: Path, meta: Path):
    from ..annotators.densepose.iuv import read_iuv_png
    from ..annotators.mediapipe_pose import PersonPose

    data = json.loads(meta.read_text())
    pose = PersonPose(
        keypoints=np.asarray(data["keypoints"], np.float32).reshape(18, 2),
        visibility=np.asarray(data["visibility"], np.float32).reshape(18),
        box=np.asarray(data["box"], np.float32).reshape(4),
        score=float(data.get("score", 1.0)),
        image_size=tuple(int(v) for v in data["image_size"]),
    )
    return read_iuv_png(png), pose


def _write_cached(png: Path, meta: Path, iuv: np.ndarray, pose) -> None:
    from ..annotators.densepose.iuv import iuv_to_pipeline_image

    png.parent.mkdir(parents=True, exist_ok=True)
    tmp_png, tmp_meta = png.with_suffix(f".tmp{os.getpid()}.png"), meta.with_suffix(f".tmp{os.getpid()}.json")
    iuv_to_pipeline_image(iuv).save(tmp_png)  # R = V, G = U, B = I: upstream MCLD's IUV PNG
    tmp_meta.write_text(
        json.dumps(
            {
                "keypoints": np.asarray(pose.keypoints, np.float64).tolist(),
                "visibility": np.asarray(pose.visibility, np.float64).tolist(),
                "box": np.asarray(pose.box, np.float64).tolist(),
                "score": float(pose.score),
                "image_size": [int(v) for v in pose.image_size],
            }
        )
    )
    os.replace(tmp_meta, meta)
    os.replace(tmp_png, png)


def precompute_gallery_iuvs(
    gallery: Sequence[GalleryPose],
    pose_transfer,
    cache_dir: str | os.PathLike | None = None,
    *,
    model_id: str | None = None,
    fetch_mirror_table: bool = True,
    timeout: float = 5.0,
) -> list[GalleryPose]:
    """Give every photo entry of the gallery its real DensePose IUV (call
    once before ``launch()``).

    For each ``"photo"`` entry: if the cache holds ``<name>-<photo sha256
    [:16]>-<model id>.png`` (the IUV in upstream MCLD's PNG format, crop
    frame) and its ``.json`` (the pose that goes with it), they are read.
    Otherwise the person is located (MediaPipe) and cropped, DensePose runs on
    the crop, and both files are written. Other entries pass through
    unchanged. With ``fetch_mirror_table``, DensePose's UV symmetry table is
    also fetched into its cache (:func:`mcld.annotators.densepose.iuv.find_uv_symmetry`,
    honouring ``HF_HUB_OFFLINE``), so that later mirrors are exact.

    Args:
        gallery: Entries from :func:`mcld.gallery.load_gallery`.
        pose_transfer: A :class:`~mcld.pose_transfer.PoseTransfer` with the
            real DensePose weights; ``None`` or a tiny one keeps the skeleton
            fallback (labelled in the entry's ``notes``).
        cache_dir: Cache folder; default :func:`default_gallery_cache_dir`.
        model_id: Cache key of the DensePose model; default
            :func:`densepose_model_id` of ``pose_transfer.densepose``.
        fetch_mirror_table: Also fetch DensePose's UV symmetry table.
        timeout: Seconds to wait for its server (once; nothing is retried).

    Returns:
        A new list, same order: photo entries with ``iuv``, ``iuv_pose`` and
        ``iuv_model`` set, or with a note saying why they fell back. The input
        entries are not changed.

    Raises:
        OSError: a photo entry's file cannot be read.

    Source:
        Our own.
    """
    if fetch_mirror_table:
        from ..annotators.densepose.iuv import find_uv_symmetry

        _, note = find_uv_symmetry(timeout=timeout)
        if note:
            logger.warning("mirror will be approximate: %s", note)
    photos = [p for p in gallery if p.kind == "photo"]
    if not photos:
        return list(gallery)
    reason = None
    if pose_transfer is None or getattr(pose_transfer, "densepose", None) is None:
        reason = "no DensePose model"
    elif getattr(pose_transfer, "tiny_mode", False):
        reason = "tiny mode: random DensePose weights"
    folder = Path(cache_dir) if cache_dir is not None else default_gallery_cache_dir()
    mid = model_id
    out = []
    for pose in gallery:
        if pose.kind != "photo":
            out.append(pose)
            continue
        if reason:
            out.append(_fallback(pose, reason))
            continue
        if mid is None:
            mid = densepose_model_id(pose_transfer.densepose)
        data = Path(pose.photo).read_bytes()
        stem = f"{pose.name}-{hashlib.sha256(data).hexdigest()[:16]}-{mid}"
        png, meta = folder / f"{stem}.png", folder / f"{stem}.json"
        cached = None
        if png.is_file() and meta.is_file():
            try:
                cached = _read_cached(png, meta)
            except (OSError, ValueError, KeyError) as err:  # a damaged entry: compute it again
                logger.warning("ignoring the damaged gallery IUV cache %s: %s", png, err)
        if cached is not None:
            iuv, crop_pose = cached
        else:
            try:
                person = pose_transfer.locate_person(data, what="target")
                iuv = pose_transfer.compute_iuv(person.crop, person.pose.box)
            except MCLDError as err:  # nobody found, unusable photo, missing weights
                out.append(_fallback(pose, err.user_message.rstrip(".")))
                continue
            crop_pose = person.pose
            try:
                _write_cached(png, meta, iuv, crop_pose)
            except OSError as err:  # read-only cache: use it now, compute again next start
                logger.warning("could not cache the gallery IUV %s: %s", png, err)
        out.append(dataclasses.replace(pose, iuv=iuv, iuv_pose=crop_pose, iuv_model=mid))
    return out
