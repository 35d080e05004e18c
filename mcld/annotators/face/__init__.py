"""Face-identity embedding (insightface antelopev2) for MCLD's face tokens.

Example:
    >>> from mcld.annotators.face import FaceEmbedder, ensure_face_model
    >>> ensure_face_model().status_line()  # start-up: download + check the pack
    '**Face identity: antelopev2** (from DIAMONIK7777/antelopev2).'
    >>> embedder = FaceEmbedder.from_pretrained()  # default places; nothing loaded yet
    >>> result = embedder.detect(photo_rgb)    # zeros + NoFaceWarning if no pack
    >>> result.embedding.shape, result.status  # (1, 512), "ok" | "no_face" | "model_missing"
    >>> crop = embedder(photo_rgb)             # (224, 224) PIL face crop (black if none)
"""

from .embedding import (
    FaceEmbedder,
    FaceEmbedding,
    crop_face,
    detect_face_box_mediapipe,
    expand_face_box,
    get_face_embedding,
    load_face_embedding,
)
from .source import (
    ANTELOPEV2_FILES,
    DEFAULT_ANTELOPEV2_REPO,
    FACE_EMBEDDING_DIM,
    FACE_MODEL_MISSING_WARNING,
    FaceModelStatus,
    check_antelopev2_pack,
    ensure_face_model,
    find_antelopev2_pack,
    locate_face_model,
)

__all__ = [
    "ANTELOPEV2_FILES",
    "DEFAULT_ANTELOPEV2_REPO",
    "FACE_EMBEDDING_DIM",
    "FACE_MODEL_MISSING_WARNING",
    "FaceEmbedder",
    "FaceEmbedding",
    "FaceModelStatus",
    "check_antelopev2_pack",
    "crop_face",
    "detect_face_box_mediapipe",
    "ensure_face_model",
    "expand_face_box",
    "find_antelopev2_pack",
    "get_face_embedding",
    "load_face_embedding",
    "locate_face_model",
]
