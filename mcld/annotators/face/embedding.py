"""Face-identity embedding for MCLD's face tokens (insightface antelopev2).

Upstream MCLD (``prepare_dataset.py`` ``prepare_face``) runs insightface
``FaceAnalysis(name="antelopev2")``, ``prepare(det_size=(640, 640))``, calls
``get`` on the BGR photo, keeps the **largest** face (box area) and saves its
raw ``embedding`` (512-d ArcFace feature from ``glintr100.onnx``, **not**
L2-normalised); the data loader expands it to ``(1, 512)`` and uses zeros when
no face was found. :class:`FaceEmbedder` does the same, and when the model pack
is missing or no face is found it warns (:class:`~mcld.errors.NoFaceWarning`)
and returns zeros, saying which case happened in :attr:`FaceEmbedding.status`.

Model pack lookup (:func:`find_antelopev2_pack`), first hit wins:

1. an explicit ``root`` (a directory holding ``models/antelopev2/``, or the
   pack directory itself);
2. ``$MCLD_INSIGHTFACE_ROOT`` (same meaning);
3. ``~/.insightface`` (insightface's default);
4. a Hugging Face Hub repo (``repo_id`` or ``$MCLD_INSIGHTFACE_REPO``) through
   ``huggingface_hub.snapshot_download`` (only ``*.onnx`` files; offline when
   ``HF_HUB_OFFLINE=1``).

In each place the known zip nesting ``antelopev2/antelopev2/*.onnx`` is
accepted. insightface's own auto-download is never triggered.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ...errors import CheckpointError, FaceEmbeddingError, NoFaceWarning
from ...image_utils import to_numpy_rgb

__all__ = [
    "ANTELOPEV2_FILES",
    "FACE_EMBEDDING_DIM",
    "FaceEmbedding",
    "FaceEmbedder",
    "find_antelopev2_pack",
    "expand_face_box",
    "crop_face",
    "detect_face_box_mediapipe",
    "get_face_embedding",
    "load_face_embedding",
]

#: Detection and recognition models of the antelopev2 pack (the other three,
#: landmarks and gender/age, do not change the embedding and are not loaded).
ANTELOPEV2_FILES = ("scrfd_10g_bnkps.onnx", "glintr100.onnx")
#: Length of the ArcFace identity embedding.
FACE_EMBEDDING_DIM = 512

FaceStatus = Literal["ok", "no_face", "model_missing"]


@dataclass
class FaceEmbedding:
    """Result of :meth:`FaceEmbedder.__call__`.

    Attributes:
        embedding: ``(1, 512)`` float32 raw ArcFace embedding of the largest
            face (not L2-normalised; norm typically 15-30), or zeros.
        status: ``"ok"``, ``"no_face"`` (models ran, no face found) or
            ``"model_missing"`` (antelopev2 pack not found; zeros used).
        box: ``(4,)`` float32 face box ``(x0, y0, x1, y1)`` in pixels, or
            ``None``. With ``"model_missing"`` it comes from MediaPipe's face
            detector (display only).
        det_score: Detection confidence in ``[0, 1]``, or ``None``.
        face_crop: ``(224, 224, 3)`` uint8 RGB square crop around the face
            (box enlarged 1.5x, black padding), for display; or ``None``.
        message: One sentence for the user about what happened.
    """

    embedding: np.ndarray
    status: FaceStatus
    box: np.ndarray | None = None
    det_score: float | None = None
    face_crop: np.ndarray | None = None
    message: str = ""


# ---------------------------------------------------------------------------
# Model pack lookup
# ---------------------------------------------------------------------------


def _pack_in(directory: Path, name: str) -> Path | None:
    """The directory holding the pack's .onnx files under ``directory``."""
    candidates = [
        directory / "models" / name,
        directory / "models" / name / name,  # zip nesting
        directory,
        directory / name,
        directory / name / name,
    ]
    for cand in candidates:
        if all((cand / f).is_file() for f in ANTELOPEV2_FILES):
            return cand
    return None


def find_antelopev2_pack(
    root: str | os.PathLike | None = None,
    repo_id: str | None = None,
    *,
    name: str = "antelopev2",
    local_files_only: bool | None = None,
) -> Path | None:
    """Locate the insightface antelopev2 pack (see the module docstring).

    Args:
        root: Directory holding ``models/antelopev2/`` or the pack itself.
            When given, only this place (and ``repo_id``) is searched.
        repo_id: Hugging Face Hub repo holding the pack's ``.onnx`` files
            (default ``$MCLD_INSIGHTFACE_REPO``; none if unset).
        name: Pack name.
        local_files_only: Only use the Hub cache; default: true when
            ``HF_HUB_OFFLINE=1``.

    Returns:
        Directory containing ``scrfd_10g_bnkps.onnx`` and ``glintr100.onnx``,
        or ``None`` when not found.

    Source:
        insightface ``utils/storage.py`` layout (``<root>/models/<name>``).
    """
    if root is not None:
        places = [Path(root).expanduser()]
    else:
        places = []
        env = os.environ.get("MCLD_INSIGHTFACE_ROOT")
        if env:
            places.append(Path(env).expanduser())
        places.append(Path("~/.insightface").expanduser())
    for place in places:
        found = _pack_in(place, name)
        if found is not None:
            return found
    repo_id = repo_id or os.environ.get("MCLD_INSIGHTFACE_REPO")
    if not repo_id:
        return None
    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(repo_id, allow_patterns=["*.onnx"], local_files_only=local_files_only))
    except Exception:  # noqa: BLE001 - offline, unknown repo, no network: treat as missing
        return None
    found = _pack_in(snapshot, name)
    if found is None:
        for onnx in sorted(snapshot.rglob(ANTELOPEV2_FILES[0])):
            found = _pack_in(onnx.parent, name)
            if found is not None:
                break
    return found


def _face_analysis_root(pack: Path, name: str) -> tuple[str, str]:
    """``(root, name)`` such that insightface's ``<root>/models/<name>`` is
    ``pack``; a symlink in the user cache is made for other layouts."""
    pack = pack.resolve()
    parts = pack.parts
    if "models" in parts:
        i = len(parts) - 1 - parts[::-1].index("models")
        if i < len(parts) - 1:
            return str(Path(*parts[:i])), str(Path(*parts[i + 1 :]))
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "mcld" / "insightface"
    link = cache / "models" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != pack:
        link.unlink()
    if not link.exists():
        link.symlink_to(pack, target_is_directory=True)
    return str(cache), name


# ---------------------------------------------------------------------------
# Face boxes and crops
# ---------------------------------------------------------------------------


def expand_face_box(box: Sequence[float], scale: float = 1.5) -> np.ndarray:
    """Square box around a face box, ``scale`` times its longer side.

    Args:
        box: ``(x0, y0, x1, y1)`` pixels.
        scale: Enlargement of the longer side.

    Returns:
        ``(4,)`` int64 ``(x0, y0, x1, y1)`` pixels (may extend past the image).

    Source:
        Upstream MCLD ``preprocess_data/face_interface.py``
        ``expand_image_region`` (reimplemented).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]).astype(np.int64)


def crop_face(image: np.ndarray, box: Sequence[float], *, scale: float = 1.5, size: int = 224) -> np.ndarray:
    """Square face crop for display, zero-padded where it leaves the image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB photo.
        box: Face box ``(x0, y0, x1, y1)`` in pixels.
        scale: Enlargement of the box's longer side (upstream: 1.5).
        size: Output side in pixels (upstream: 224, bicubic).

    Returns:
        ``(size, size, 3)`` uint8 RGB.

    Raises:
        ValueError: the box is empty.

    Source:
        Upstream MCLD ``preprocess_data/face_interface.py`` (``safe_crop_image``
        then ``cv2.resize(..., INTER_CUBIC)``), reimplemented.
    """
    import cv2

    x0, y0, x1, y1 = (int(v) for v in expand_face_box(box, scale))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty face box {box!r}")
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_CUBIC)


_MP_FACE = None
_MP_LOCK = threading.Lock()


def detect_face_box_mediapipe(image) -> tuple[np.ndarray, float] | None:
    """Largest face box from MediaPipe's full-range face detector (cheap
    fallback for displaying the face crop when insightface is unavailable).

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(box (4,) float32 XYXY pixels, score in [0, 1])`` or ``None`` (no
        face, or MediaPipe not installed).

    Source:
        MediaPipe ``solutions.face_detection`` (BlazeFace, full range).
    """
    global _MP_FACE
    try:
        import mediapipe as mp
    except ImportError:  # pragma: no cover - depends on the install
        return None
    rgb = np.ascontiguousarray(to_numpy_rgb(image))
    h, w = rgb.shape[:2]
    with _MP_LOCK:
        if _MP_FACE is None:
            _MP_FACE = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        result = _MP_FACE.process(rgb)
    best = None
    for det in result.detections or []:
        rb = det.location_data.relative_bounding_box
        box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h], np.float32)
        box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
        area = float((box[2] - box[0]) * (box[3] - box[1]))
        if best is None or area > best[0]:
            best = (area, box, float(det.score[0]))
    return None if best is None else (best[1], best[2])


# ---------------------------------------------------------------------------
# The embedder
# ---------------------------------------------------------------------------


class FaceEmbedder:
    """insightface antelopev2 face-identity embedder (lazy, thread-safe).

    Args:
        root: Where to look for the pack (see :func:`find_antelopev2_pack`).
        repo_id: Hugging Face Hub repo with the pack's ``.onnx`` files.
        providers: onnxruntime execution providers.
        det_size: Detector input size ``(width, height)`` in pixels (upstream:
            640x640).
        name: insightface pack name.

    The pack is located and loaded on the first call; a missing pack is not an
    error (zeros + :class:`NoFaceWarning`, as upstream).

    Example:
        >>> result = FaceEmbedder()(photo_rgb)
        >>> result.embedding.shape, result.status
        ((1, 512), 'ok')

    Source:
        Upstream MCLD ``prepare_dataset.py`` ``prepare_face``; insightface
        0.7.3 ``app.FaceAnalysis``; Deng et al., "ArcFace", CVPR 2019.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        repo_id: str | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        det_size: tuple[int, int] = (640, 640),
        name: str = "antelopev2",
    ):
        self.root = root
        self.repo_id = repo_id
        self.providers = list(providers)
        self.det_size = tuple(det_size)
        self.name = name
        self._app = None
        self._searched = False
        self._pack: Path | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike, **kwargs) -> "FaceEmbedder":
        """Embedder from a local directory (if it exists) or a Hub repo id."""
        if Path(path_or_repo_id).expanduser().exists():
            return cls(root=path_or_repo_id, **kwargs)
        return cls(repo_id=str(path_or_repo_id), **kwargs)

    def to(self, device: str) -> "FaceEmbedder":
        """Run on ``"cpu"`` or ``"cuda"`` (CUDA provider first, CPU fallback)."""
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(device).startswith("cuda") else ["CPUExecutionProvider"]
        with self._lock:
            if providers != self.providers:
                self.providers = providers
                self._app = None
        return self

    @property
    def pack_dir(self) -> Path | None:
        """Directory of the located pack, or ``None`` if there is none."""
        with self._lock:
            return self._locate()

    def _locate(self) -> Path | None:
        if not self._searched:
            self._pack = find_antelopev2_pack(self.root, self.repo_id, name=self.name)
            self._searched = True
        return self._pack

    def _load(self):
        if self._app is not None:
            return self._app
        pack = self._locate()
        if pack is None:
            return None
        try:
            from insightface.app import FaceAnalysis
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError("Face embeddings need `insightface` and `onnxruntime`: pip install insightface==0.7.3 onnxruntime") from err
        root, name = _face_analysis_root(pack, self.name)
        ctx_id = 0 if "CUDAExecutionProvider" in self.providers else -1
        try:
            app = FaceAnalysis(name=name, root=root, providers=self.providers, allowed_modules=["detection", "recognition"])
            app.prepare(ctx_id=ctx_id, det_size=self.det_size)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises many kinds
            raise CheckpointError(
                "The face-identity models (insightface antelopev2) are damaged and could not be loaded.",
                detail=f"{pack}: {err}",
            ) from err
        if "recognition" not in app.models:
            raise CheckpointError(
                "The face-identity models (insightface antelopev2) are incomplete.",
                detail=f"no recognition model in {pack}",
            )
        self._app = app
        return app

    def __call__(self, image, *, warn: bool = True) -> FaceEmbedding:
        """Embed the largest face of a photo.

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            warn: Emit :class:`~mcld.errors.NoFaceWarning` when zeros are
                returned.

        Returns:
            :class:`FaceEmbedding`; ``embedding`` is ``(1, 512)`` float32.

        Raises:
            CheckpointError: the pack exists but cannot be loaded.
            InputImageError: ``image`` is not an image.
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        with self._lock:
            app = self._load()
            faces = None if app is None else app.get(np.ascontiguousarray(rgb[..., ::-1]))
        zeros = np.zeros((1, FACE_EMBEDDING_DIM), np.float32)
        if app is None:
            message = "Face-identity models (insightface antelopev2) are not installed; the face identity is not used."
            fallback = detect_face_box_mediapipe(rgb)
            box, score = fallback if fallback is not None else (None, None)
            crop = crop_face(rgb, box) if box is not None else None
            result = FaceEmbedding(zeros, "model_missing", box, score, crop, message)
        elif not faces:
            message = "No face was found in the source photo; the face identity is not used."
            result = FaceEmbedding(zeros, "no_face", message=message)
        else:
            face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
            box = np.asarray(face.bbox, np.float32)
            embedding = np.asarray(face.embedding, np.float32).reshape(1, FACE_EMBEDDING_DIM)
            return FaceEmbedding(embedding, "ok", box, float(face.det_score), crop_face(rgb, box), "")
        if warn:
            warnings.warn(result.message, NoFaceWarning, stacklevel=2)
        return result


_DEFAULT: FaceEmbedder | None = None
_DEFAULT_LOCK = threading.Lock()


def get_face_embedding(image, embedder: FaceEmbedder | None = None) -> FaceEmbedding:
    """Embed the largest face with the process-wide default :class:`FaceEmbedder`
    (pack from ``$MCLD_INSIGHTFACE_ROOT``, ``~/.insightface`` or
    ``$MCLD_INSIGHTFACE_REPO``).

    Returns:
        :class:`FaceEmbedding` (zeros and a :class:`NoFaceWarning` when the
        pack is missing or no face is found).

    Raises:
        CheckpointError: the pack exists but cannot be loaded.

    Source:
        Upstream MCLD ``prepare_dataset.py`` ``prepare_face``.
    """
    global _DEFAULT
    if embedder is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = FaceEmbedder()
            embedder = _DEFAULT
    return embedder(image)


def load_face_embedding(path: str | os.PathLike) -> FaceEmbedding:
    """Read a saved face embedding (upstream's per-image ``.npy`` files).

    Non-finite values (NaN, inf) are **not** an error: like a missing face,
    they give zeros, status ``"no_face"`` and a
    :class:`~mcld.errors.NoFaceWarning` whose text is also in
    :attr:`FaceEmbedding.message`.

    Args:
        path: ``.npy`` file holding 512 float values (``(512,)``, ``(1, 512)``
            or ``(1, 1, 512)``); pickled objects are refused.

    Returns:
        :class:`FaceEmbedding` with ``embedding`` ``(1, 512)`` float32.

    Raises:
        FaceEmbeddingError: missing or unreadable file, pickled content, or not
            512 numbers.

    Source:
        Upstream MCLD data loader (``np.load`` of the saved ``face_embeds``,
        zeros when absent); the NaN policy is ours.
    """
    try:
        arr = np.load(os.fspath(path), allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise FaceEmbeddingError(
            "The saved face embedding could not be read (expected a .npy file of 512 numbers).", detail=f"{path}: {err}"
        ) from err
    if not isinstance(arr, np.ndarray) or arr.size != FACE_EMBEDDING_DIM or not np.issubdtype(arr.dtype, np.number):
        raise FaceEmbeddingError(
            "The saved face embedding has the wrong size (expected 512 numbers).",
            detail=f"{path}: shape {getattr(arr, 'shape', None)}, dtype {getattr(arr, 'dtype', None)}",
        )
    emb = arr.astype(np.float32).reshape(1, FACE_EMBEDDING_DIM)
    if not np.isfinite(emb).all():
        message = "The saved face embedding contains invalid values (NaN); the face is generated without identity guidance."
        warnings.warn(message, NoFaceWarning, stacklevel=2)
        return FaceEmbedding(np.zeros((1, FACE_EMBEDDING_DIM), np.float32), "no_face", message=message)
    return FaceEmbedding(emb, "ok", message="Face embedding loaded from file.")
