"""Start-up of the Space: one Hub reachability check, then every model fetched
and built in the main thread before ``launch()``.

:func:`check_hub` asks the Hub once, with a short timeout; the app keeps its
answer (no per-request retry cycles). :func:`preload` then fetches and builds
the components in order, logging one progress line per step (MCLD weights,
VAE, CLIP image encoder, DensePose, human parser, face pack, UV texture
template, pose gallery), and returns a :class:`Startup` that names every component that
failed, what is missing and where it is fetched from. A failed component never
stops the others: the human parser falls back to the coarse MediaPipe parser,
the face pack to zero identity tokens; without the diffusion models only
Generate is unavailable (:attr:`Startup.generate_unavailable`).

ZeroGPU patches ``.to("cuda")`` only in the thread that imported ``spaces``;
models built later in a handler thread would touch real CUDA and fail, so the
app's handlers never build models: they use what :func:`preload` built.

Source:
    Hugging Face hub-docs ``docs/hub/spaces-zerogpu.md`` (models built at
    start-up, outside the GPU functions); ``huggingface_hub`` offline mode
    (``HF_HUB_OFFLINE``, ``constants.HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from .hub_files import offline_requested

__all__ = [
    "TINY_HINT",
    "HubStatus",
    "ComponentStatus",
    "Startup",
    "check_hub",
    "use_offline_mode",
    "preload",
]

LOGGER = logging.getLogger("mcld.startup")

#: How to run the whole app without any download (named wherever the weights cannot be had).
TINY_HINT = "`make demo-tiny` (or `MCLD_TINY=1 python app.py`) runs the whole app offline on tiny random weights"
#: Where each component comes from (shown next to a component that failed).
FETCH_FROM = {
    "mcld": "https://huggingface.co/Lotior/mcld",
    "vae": "https://huggingface.co/stabilityai/sd-vae-ft-mse",
    "image_encoder": "https://huggingface.co/lambdalabs/sd-image-variations-diffusers (image_encoder/)",
    "densepose": "https://dl.fbaipublicfiles.com/densepose/ (detectron2 DensePose model zoo, R_101_FPN_DL_s1x)",
    "parser": "https://huggingface.co/yisol/IDM-VTON (humanparsing/parsing_atr.onnx)",
    "face": "insightface antelopev2 pack (~/.insightface/models/antelopev2, $MCLD_INSIGHTFACE_ROOT or $MCLD_INSIGHTFACE_REPO)",
    "texture": "upstream MCLD on GitHub (texture_bg_200.png, pinned commit)",
    "gallery": "DensePose run on the gallery's photo entries once, cached in ~/.cache/mcld (mcld.gallery)",
}
#: Component key -> the name the log and the UI use.
LABELS = {
    "mcld": "MCLD weights",
    "vae": "VAE",
    "image_encoder": "CLIP image encoder",
    "densepose": "DensePose",
    "parser": "Human parser (SCHP)",
    "face": "Face pack (insightface antelopev2)",
    "texture": "UV texture template",
    "gallery": "Pose gallery",
}


@dataclass(frozen=True)
class HubStatus:
    """The one Hub reachability answer of a start-up.

    Attributes:
        reachable: True if the Hub answered (any HTTP status counts).
        endpoint: The URL asked (``$HF_ENDPOINT`` or ``https://huggingface.co``).
        reason: Why it is not reachable (``""`` when it is): ``HF_HUB_OFFLINE``
            set, the timeout, or the network error.
        elapsed_s: Seconds the check took.
    """

    reachable: bool
    endpoint: str
    reason: str = ""
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class ComponentStatus:
    """One start-up component: loaded, or what failed.

    Attributes:
        key: ``"mcld"``, ``"vae"``, ``"image_encoder"``, ``"densepose"``,
            ``"parser"``, ``"face"``, ``"texture"`` or ``"gallery"``.
        label: Its name in the log and the UI (:data:`LABELS`).
        ok: True if it loaded.
        message: What is missing or wrong (``""`` when ``ok``).
        fetch_from: Where it is fetched from (:data:`FETCH_FROM`).
        fallback: What the app uses instead (``None``: nothing; the feature is off).
        seconds: Time the step took.
    """

    key: str
    label: str
    ok: bool
    message: str = ""
    fetch_from: str = ""
    fallback: str | None = None
    seconds: float = 0.0

    def line(self) -> str:
        """One Markdown line for the UI: the component, what is missing, where it is fetched from."""
        if self.ok:
            return f"{self.label}: loaded."
        tail = f" Using {self.fallback} instead." if self.fallback else ""
        return f"**{self.label}** did not load: {self.message} Fetched from {self.fetch_from}.{tail}"


@dataclass
class Startup:
    """What :func:`preload` built, and what failed.

    Attributes:
        mode: ``"tiny"`` or ``"full"``.
        hub: The reachability check (``None`` in tiny mode: nothing is fetched).
        pose_transfer: The :class:`~mcld.pose_transfer.PoseTransfer`, or
            ``None`` when its models could not be built (full mode).
        parser: The SCHP :class:`~mcld.annotators.human_parsing.HumanParser`,
            or ``None`` when it failed (the caller then uses the coarse
            MediaPipe parser, ``HumanParser.from_pretrained("mediapipe-coarse")``,
            which needs no weights).
        face: The :class:`~mcld.annotators.face.FaceEmbedder`, or ``None``
            (zero identity tokens).
        gallery: The pose gallery (:func:`mcld.gallery.precompute_gallery_iuvs`:
            photo entries with their DensePose IUV), or ``None`` when it failed.
        components: One :class:`ComponentStatus` per step, in order.
    """

    mode: str
    hub: HubStatus | None
    pose_transfer: Any = None
    parser: Any = None
    face: Any = None
    gallery: Any = None
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def failed(self) -> list[ComponentStatus]:
        """The components that did not load."""
        return [c for c in self.components if not c.ok]

    @property
    def offline(self) -> bool:
        """True in full mode when the Hub was not reachable at start-up."""
        return self.mode == "full" and self.hub is not None and not self.hub.reachable

    @property
    def generate_unavailable(self) -> str | None:
        """The sentence Generate answers with when its models are missing, else ``None``."""
        if self.pose_transfer is not None:
            return None
        missing = ", ".join(c.label for c in self.failed if c.fallback is None) or "the diffusion models"
        if self.offline:
            return (
                f"The model weights cannot be downloaded here: the Hugging Face Hub is not reachable "
                f"({self.hub.reason}). Missing: {missing}. {TINY_HINT}."
            )
        return f"The models did not load at start-up (missing: {missing}); restart the app to try again. {TINY_HINT}."


def check_hub(endpoint: str | None = None, timeout_s: float = 3.0) -> HubStatus:
    """Ask the Hub once whether it can be reached (one HTTP HEAD, short timeout).

    Args:
        endpoint: Hub URL; default ``$HF_ENDPOINT`` or ``https://huggingface.co``.
        timeout_s: Seconds to wait for the connection and the answer.

    Returns:
        :class:`HubStatus`. Any HTTP answer, an error status included, counts
        as reachable; ``HF_HUB_OFFLINE=1`` / ``MCLD_OFFLINE=1`` count as not
        reachable without a request.
    """
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    start = time.monotonic()
    if offline_requested():
        return HubStatus(False, endpoint, "HF_HUB_OFFLINE is set", 0.0)
    request = urllib.request.Request(f"{endpoint}/api/models/Lotior/mcld", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            pass
    except urllib.error.HTTPError:  # the Hub answered (404, 401, 5xx...): it is reachable
        pass
    except (OSError, ValueError) as err:  # URLError, timeout, DNS, refused, bad URL
        reason = getattr(err, "reason", err)
        return HubStatus(False, endpoint, f"{type(err).__name__}: {reason}", time.monotonic() - start)
    return HubStatus(True, endpoint, "", time.monotonic() - start)


def use_offline_mode() -> None:
    """Make every later Hub call fail at once instead of retrying: sets
    ``HF_HUB_OFFLINE=1`` and ``MCLD_OFFLINE=1`` in the environment and
    ``huggingface_hub.constants.HF_HUB_OFFLINE`` (read at each call by
    huggingface_hub, transformers and diffusers). For the app's start-up
    after :func:`check_hub` said the Hub cannot be reached."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["MCLD_OFFLINE"] = "1"
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


def _step(startup: Startup, key: str, index: int, total: int, fn: Callable[[], Any], fallback: str | None = None):
    """Run one start-up step, log it, record its :class:`ComponentStatus`; return ``fn()`` or ``None``."""
    from .errors import MCLDError

    label = LABELS[key]
    LOGGER.info("start-up [%d/%d] %s ...", index, total, label)
    start = time.monotonic()
    try:
        value = fn()
    except MCLDError as err:
        message = err.user_message
        LOGGER.warning("start-up [%d/%d] %s failed: %s", index, total, label, err)
    except Exception as err:  # noqa: BLE001 - a network or library failure must not stop the Space from serving
        message = f"{type(err).__name__}: {err}"
        LOGGER.exception("start-up [%d/%d] %s failed", index, total, label)
    else:
        seconds = time.monotonic() - start
        LOGGER.info("start-up [%d/%d] %s: ready (%.1f s)", index, total, label, seconds)
        startup.components.append(ComponentStatus(key, label, True, fetch_from=FETCH_FROM[key], seconds=seconds))
        return value
    if not message.endswith("."):
        message += "."
    startup.components.append(
        ComponentStatus(key, label, False, message, FETCH_FROM[key], fallback, time.monotonic() - start)
    )
    return None


def _fetch_mcld(offline: bool) -> None:
    from .weights import CHECKPOINT_FILES, DEFAULT_MCLD_WEIGHTS, resolve_checkpoint

    for component in CHECKPOINT_FILES:
        resolve_checkpoint(component, DEFAULT_MCLD_WEIGHTS, local_files_only=offline)


def _fetch_hub_folder(repo_id: str, patterns: list[str], what: str, offline: bool) -> None:
    from huggingface_hub import snapshot_download

    from .errors import WeightsNotFoundError

    try:
        snapshot_download(repo_id, allow_patterns=patterns, local_files_only=offline)
    except Exception as err:  # offline, missing repo, network: huggingface_hub raises several types
        raise WeightsNotFoundError(
            f"The {what} ({repo_id}) is not on disk and could not be downloaded"
            + (" (the Hub is not reachable)" if offline else ""),
            detail=f"{type(err).__name__}: {err}",
        ) from err


def _fetch_densepose(offline: bool) -> None:
    from .annotators.densepose.checkpoint import resolve_weights

    resolve_weights("R_101_FPN_DL_s1x", local_files_only=offline)


def _load_parser():
    from .annotators.human_parsing import HumanParser

    return HumanParser.from_pretrained(fallback=False)


def _load_face(offline: bool):
    import numpy as np

    from .annotators.face import FaceEmbedder
    from .annotators.face.source import ensure_face_model
    from .errors import WeightsNotFoundError

    status = ensure_face_model(local_files_only=offline)  # fetches the detector and recognizer, checks them
    if not status.available:
        raise WeightsNotFoundError(status.message)
    embedder = FaceEmbedder(root=status.pack_dir, local_files_only=True)
    embedder(np.zeros((64, 64, 3), np.uint8), warn=False)  # loads the ONNX models now (CheckpointError if damaged)
    return embedder


def _load_gallery(pose_transfer, offline: bool):
    from .gallery import load_gallery, precompute_gallery_iuvs

    return precompute_gallery_iuvs(load_gallery(), pose_transfer, fetch_mirror_table=not offline)


def _load_texture_template(offline: bool):
    from .annotators.uv_texture import TEXTURE_TEMPLATE_URL, ensure_texture_template
    from .annotators.uv_texture.texture import part_valid_masks
    from .errors import WeightsNotFoundError

    part_valid_masks()  # the per-part atlas masks every texture uses (built once, cached)
    path = ensure_texture_template(local_files_only=offline)
    if path is None:
        raise WeightsNotFoundError(f"upstream's texture_bg_200.png is not cached and could not be fetched from {TEXTURE_TEMPLATE_URL}.")
    return path


def preload(*, tiny: bool, hub: HubStatus | None = None) -> Startup:
    """Fetch and build every component, in the calling (main) thread.

    Steps, logged as ``start-up [k/n] <component> ...``: full mode fetches the
    MCLD weights, VAE, CLIP image encoder and DensePose, then builds
    :meth:`PoseTransfer.from_pretrained <mcld.pose_transfer.PoseTransfer.from_pretrained>`
    (skipped when one of them is missing: it would fail the same way); tiny
    mode builds :meth:`PoseTransfer.tiny <mcld.pose_transfer.PoseTransfer.tiny>`.
    Both then load the human parser, the face pack, the UV texture template
    and the pose gallery (real DensePose IUVs of its photo entries, full mode).

    Args:
        tiny: Tiny random weights; nothing is downloaded (local files only).
        hub: :func:`check_hub`'s answer; an unreachable Hub means local files
            only (call :func:`use_offline_mode` first so libraries do not retry).

    Returns:
        :class:`Startup`. Never raises for a component that fails: it is
        recorded with its fallback (coarse parser, zero identity tokens) or,
        for the diffusion models, leaves ``pose_transfer`` as ``None``.
    """
    offline = tiny or (hub is not None and not hub.reachable)  # tiny mode downloads nothing
    startup = Startup("tiny" if tiny else "full", hub)
    total = 4 if tiny else 8
    k = 0
    if not tiny:
        from .weights import DEFAULT_IMAGE_ENCODER, DEFAULT_VAE

        fetches = (
            ("mcld", lambda: _fetch_mcld(offline)),
            ("vae", lambda: _fetch_hub_folder(DEFAULT_VAE, ["config.json", "diffusion_pytorch_model.safetensors"], "VAE", offline)),
            ("image_encoder", lambda: _fetch_hub_folder(DEFAULT_IMAGE_ENCODER, ["image_encoder/*"], "CLIP image encoder", offline)),
            ("densepose", lambda: _fetch_densepose(offline)),
        )
        for key, fetch in fetches:
            k += 1
            _step(startup, key, k, total, fetch)
        if not startup.failed:
            from .pose_transfer import PoseTransfer

            LOGGER.info("start-up: building the diffusion models, DensePose and moving them to the device ...")
            try:
                startup.pose_transfer = PoseTransfer.from_pretrained()
            except Exception as err:  # noqa: BLE001 - recorded and shown; the rest of the app keeps working
                LOGGER.exception("start-up: the models could not be built")
                startup.components.append(
                    ComponentStatus("mcld", LABELS["mcld"], False, f"the models could not be built ({type(err).__name__}: {err}).", FETCH_FROM["mcld"])
                )
    else:
        from .pose_transfer import PoseTransfer

        startup.pose_transfer = PoseTransfer.tiny()
    k += 1
    # On failure ``parser`` stays None: the coarse MediaPipe parser (CPU, no weights) is built on first use.
    startup.parser = _step(startup, "parser", k, total, _load_parser, fallback="coarse parsing (MediaPipe)")
    k += 1
    startup.face = _step(startup, "face", k, total, lambda: _load_face(offline), fallback="zero identity tokens (no face identity)")
    if startup.pose_transfer is not None:
        startup.pose_transfer.face = startup.face
    k += 1
    _step(startup, "texture", k, total, lambda: _load_texture_template(offline), fallback="the approximate texture template (results say so)")
    k += 1
    # DensePose IUVs of the gallery's photo entries (cached); without DensePose they keep the skeleton-drawn IUV.
    startup.gallery = _step(
        startup, "gallery", k, total, lambda: _load_gallery(None if tiny else startup.pose_transfer, offline),
        fallback="the gallery files as they are",
    )  # fmt: skip
    return startup
