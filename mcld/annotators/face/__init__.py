"""Face-identity embedding (insightface antelopev2) for MCLD's face tokens.

Example:
    >>> from mcld.annotators.face import FaceEmbedder
    >>> result = FaceEmbedder()(photo_rgb)     # zeros + NoFaceWarning if no pack
    >>> result.embedding.shape, result.status  # (1, 512), "ok" | "no_face" | "model_missing"
"""

from .embedding import (
    ANTELOPEV2_FILES,
    FACE_EMBEDDING_DIM,
    FaceEmbedder,
    FaceEmbedding,
    crop_face,
    detect_face_box_mediapipe,
    expand_face_box,
    find_antelopev2_pack,
    get_face_embedding,
    load_face_embedding,
)

__all__ = [
    "ANTELOPEV2_FILES",
    "FACE_EMBEDDING_DIM",
    "FaceEmbedder",
    "FaceEmbedding",
    "crop_face",
    "detect_face_box_mediapipe",
    "expand_face_box",
    "find_antelopev2_pack",
    "get_face_embedding",
    "load_face_embedding",
]
