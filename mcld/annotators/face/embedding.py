"""Face-identity embedding for MCLD's face tokens (insightface antelopev2).

Upstream MCLD (``prepare_dataset.py`` ``prepare_face``) runs insightface
``FaceAnalysis(name="antelopev2")``, ``prepare(det_size=(640, 640))``, calls
``get`` on the BGR photo, keeps the **largest** face (box area) and saves its
raw ``embedding`` (512-d ArcFace feature from ``glintr100.onnx``, **not**
L2-normalised); the data loader expands it to ``(1, 512)`` and uses zeros when
no face was found. :class:`FaceEmbedder` does the same, and when the model pack
is missing or no face is found it warns (:class:`~mcld.errors.NoFaceWarning`)
and returns zeros, saying which case happened in :attr:`FaceEmbedding.status`.

Model pack: :func:`~mcld.annotators.face.source.ensure_face_model` finds or
downloads it (default: the public Hub mirror ``DIAMONIK7777/antelopev2``) and
checks it; :attr:`FaceEmbedder.model_status` says which model runs. insightface's
own auto-download is never triggered.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ...errors import FaceEmbeddingError, NoFaceWarning
from ...image_utils import to_numpy_rgb
from ..mediapipe_pose.keypoints import NO_FACE_NOTE
from .source import (
    ANTELOPEV2_FILES,
    FACE_EMBEDDING_DIM,
    FACE_MODEL_MISSING_WARNING,
    FaceModelStatus,
    ensure_face_model,
    find_antelopev2_pack,
)

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


def detect_face_box_mediapipe(image, detector=None) -> tuple[np.ndarray, float] | None:
    """Largest face box from the face finder (MediaPipe's full-range face
    detector), the same one person detection uses to decide whether a person
    shows a face (:mod:`mcld.annotators.mediapipe_pose`); the cheap fallback
    for displaying the face crop when insightface is unavailable.

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB.
        detector: The :class:`~mcld.annotators.mediapipe_pose.MediaPipePoseDetector`
            whose face finder to use. ``None`` builds one for this call and
            closes it after (its face detection and face mesh graphs are built
            again each time, about 0.2-0.5 s on a CPU): pass one to call
            this repeatedly.

    Returns:
        ``(box (4,) float32 XYXY pixels clipped to the image, score in
        [0, 1])`` or ``None`` (no face, or MediaPipe not installed).

    Source:
        MediaPipe ``solutions.face_detection`` (BlazeFace, full range), via
        :meth:`mcld.annotators.mediapipe_pose.MediaPipePoseDetector.find_faces`
        (face detection confirmed by the face mesh).
    """
    try:
        import mediapipe  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        return None
    from ..mediapipe_pose import MediaPipePoseDetector

    rgb = np.ascontiguousarray(to_numpy_rgb(image))
    h, w = rgb.shape[:2]
    own = detector is None
    finder = MediaPipePoseDetector() if own else detector
    try:
        faces = finder.find_faces(rgb)
    finally:
        if own:
            finder.close()
    best = None
    for box, score in faces:
        box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
        area = float((box[2] - box[0]) * (box[3] - box[1]))
        if best is None or area > best[0]:
            best = (area, box, score)
    return None if best is None else (best[1], best[2])


# ---------------------------------------------------------------------------
# The embedder
# ---------------------------------------------------------------------------


class FaceEmbedder:
    """insightface antelopev2 face-identity embedder (lazy, thread-safe).

    The annotator contract: :meth:`from_pretrained`, :meth:`to`,
    :meth:`detect` (the :class:`FaceEmbedding`) and ``__call__`` (the face
    crop image). The insightface models and the MediaPipe face finder used
    when they are missing live on the instance.

    Args:
        root: Where to look for the pack (see :func:`ensure_face_model`).
        repo_id: Hugging Face Hub repo with the pack's ``.onnx`` files
            (default ``$MCLD_INSIGHTFACE_REPO``, else ``DIAMONIK7777/antelopev2``).
        providers: onnxruntime execution providers.
        det_size: Detector input size ``(width, height)`` in pixels (upstream:
            640x640).
        name: insightface pack name.
        local_files_only: Never download (only local places and the Hub
            cache); default: true when ``HF_HUB_OFFLINE=1``.
        face_finder: A :class:`~mcld.annotators.mediapipe_pose.MediaPipePoseDetector`
            whose face finder boxes the face when the pack is missing
            (display only); ``None``: one of its own, built on first need.

    The pack is located (downloaded if needed), checked and loaded on first
    use; a missing or broken pack is not an error: zeros,
    :data:`FACE_MODEL_MISSING_WARNING` and :attr:`model_status` saying why.

    Example:
        >>> embedder = FaceEmbedder()
        >>> embedder.model_status.available
        True
        >>> result = embedder.detect(photo_rgb)
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
        *,
        local_files_only: bool | None = None,
        face_finder=None,
    ):
        self.root = root
        self.repo_id = repo_id
        self.providers = list(providers)
        self.det_size = tuple(det_size)
        self.name = name
        self.local_files_only = local_files_only
        self._app = None
        self._status: FaceModelStatus | None = None
        self._lock = threading.Lock()
        self._face_finder = face_finder

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: str | os.PathLike | None = None, **kwargs) -> "FaceEmbedder":
        """Embedder from a local pack directory (if it exists) or a Hub repo id.

        Args:
            pretrained_model_or_path: Pack directory, a Hub repository id, or
                ``None`` for the default places
                (:func:`~mcld.annotators.face.source.ensure_face_model`:
                ``$MCLD_INSIGHTFACE_ROOT``, ``~/.insightface``, then the Hub
                repo ``$MCLD_INSIGHTFACE_REPO`` or ``DIAMONIK7777/antelopev2``).
            **kwargs: Other :class:`FaceEmbedder` arguments.

        Returns:
            :class:`FaceEmbedder` (nothing is loaded yet; a missing pack is
            reported by :attr:`model_status`, not raised).
        """
        if pretrained_model_or_path is None:
            return cls(**kwargs)
        if Path(pretrained_model_or_path).expanduser().exists():
            return cls(root=pretrained_model_or_path, **kwargs)
        return cls(repo_id=str(pretrained_model_or_path), **kwargs)

    def to(self, device: str) -> "FaceEmbedder":
        """Run on ``"cpu"`` or ``"cuda"`` (CUDA provider first, CPU fallback)."""
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(device).startswith("cuda") else ["CPUExecutionProvider"]
        with self._lock:
            if providers != self.providers:
                self.providers = providers
                self._app = None
        return self

    @property
    def model_status(self) -> FaceModelStatus:
        """Which face model runs (:class:`FaceModelStatus`); located, downloaded
        if needed and checked on first access, then kept."""
        with self._lock:
            return self._locate()

    @property
    def pack_dir(self) -> Path | None:
        """Directory of the located, working pack, or ``None`` if there is none."""
        status = self.model_status
        return Path(status.pack_dir) if status.available else None

    def _locate(self) -> FaceModelStatus:
        if self._status is None:
            self._status = ensure_face_model(
                root=self.root, repo_id=self.repo_id, name=self.name,
                local_files_only=self.local_files_only, providers=self.providers,
            )  # fmt: skip
        return self._status

    def _load(self):
        if self._app is not None:
            return self._app
        status = self._locate()
        if not status.available:
            return None
        try:
            from insightface.app import FaceAnalysis
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError("Face embeddings need `insightface` and `onnxruntime`: pip install insightface==0.7.3 onnxruntime") from err
        pack = Path(status.pack_dir)
        root, name = _face_analysis_root(pack, self.name)
        ctx_id = 0 if "CUDAExecutionProvider" in self.providers else -1
        try:
            app = FaceAnalysis(name=name, root=root, providers=self.providers, allowed_modules=["detection", "recognition"])
            app.prepare(ctx_id=ctx_id, det_size=self.det_size)
            if "recognition" not in app.models:
                raise ValueError(f"insightface found no recognition model among the .onnx files of {pack}")
        except Exception as err:  # noqa: BLE001 - onnxruntime and insightface raise many kinds
            self._status = FaceModelStatus(
                status.name, status.source, False,
                f"Face identity is off: insightface could not load the face model {status.name} in {pack} "
                f"({type(err).__name__}: {err}). The face is generated without identity guidance.",
                status.pack_dir, status.fetch_from,
            )  # fmt: skip
            return None
        self._app = app
        return app

    def _finder(self):
        """The MediaPipe face finder of this embedder (built on first need)."""
        if self._face_finder is None:
            from ..mediapipe_pose import MediaPipePoseDetector

            self._face_finder = MediaPipePoseDetector()
        return self._face_finder

    def __call__(self, input_image, *, warn: bool = True, output_type: str = "pil"):
        """Annotator contract: the face crop of the largest face.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            warn: Emit :class:`~mcld.errors.NoFaceWarning` when no face (or no
                model) is found.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(224, 224, 3)`` uint8 RGB square crop around the face (box
            enlarged 1.5x, as upstream), PIL image or array; all black when no
            face was found.

        Raises:
            InputImageError: ``input_image`` is not an image.
            ValueError: unknown ``output_type``.

        Source:
            Upstream MCLD ``preprocess_data/face_interface.py`` (the crop);
            see :meth:`detect`.
        """
        from ..common import check_output_type, to_output

        check_output_type(output_type)
        result = self.detect(input_image, warn=warn)
        crop = result.face_crop if result.face_crop is not None else np.zeros((224, 224, 3), np.uint8)
        return to_output(crop, output_type)

    def detect(self, input_image, *, warn: bool = True) -> FaceEmbedding:
        """Embed the largest face of a photo.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            warn: Emit :class:`~mcld.errors.NoFaceWarning` when zeros are
                returned.

        Returns:
            :class:`FaceEmbedding`; ``embedding`` is ``(1, 512)`` float32.
            With no working model its ``message`` is
            :data:`FACE_MODEL_MISSING_WARNING` (the reason is in
            :attr:`model_status`).

        Raises:
            InputImageError: ``input_image`` is not an image.

        Source:
            Upstream MCLD ``prepare_dataset.py`` ``prepare_face`` (largest
            face, raw embedding, zeros when none).
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(input_image))
        with self._lock:
            app = self._load()
            faces = None if app is None else app.get(np.ascontiguousarray(rgb[..., ::-1]))
        zeros = np.zeros((1, FACE_EMBEDDING_DIM), np.float32)
        if app is None:
            fallback = detect_face_box_mediapipe(rgb, self._finder())
            box, score = fallback if fallback is not None else (None, None)
            crop = crop_face(rgb, box) if box is not None else None
            result = FaceEmbedding(zeros, "model_missing", box, score, crop, FACE_MODEL_MISSING_WARNING)
        elif not faces:
            message = NO_FACE_NOTE
            result = FaceEmbedding(zeros, "no_face", message=message)
        else:
            face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
            box = np.asarray(face.bbox, np.float32)
            embedding = np.asarray(face.embedding, np.float32).reshape(1, FACE_EMBEDDING_DIM)
            return FaceEmbedding(embedding, "ok", box, float(face.det_score), crop_face(rgb, box), "")
        if warn:
            warnings.warn(result.message, NoFaceWarning, stacklevel=2)
        return result


def get_face_embedding(image, embedder: FaceEmbedder | None = None) -> FaceEmbedding:
    """Embed the largest face of a photo (:meth:`FaceEmbedder.detect`).

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
        embedder: The embedder to use. ``None`` builds a :class:`FaceEmbedder`
            for this one call (pack from ``$MCLD_INSIGHTFACE_ROOT``,
            ``~/.insightface``, ``$MCLD_INSIGHTFACE_REPO`` or the default Hub
            mirror): the pack is located, checked and its ONNX models loaded
            again on every call (seconds), so pass one to call this repeatedly.

    Returns:
        :class:`FaceEmbedding` (zeros and a :class:`NoFaceWarning` when the
        pack is missing or broken, or no face is found).

    Raises:
        InputImageError: ``image`` is not an image.

    Source:
        Upstream MCLD ``prepare_dataset.py`` ``prepare_face``.
    """
    return (embedder if embedder is not None else FaceEmbedder()).detect(image)


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
