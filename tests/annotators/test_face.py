"""Face embedding: missing or damaged pack fallback, pack lookup, face crops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from mcld.annotators.face import (
    ANTELOPEV2_FILES,
    FACE_MODEL_MISSING_WARNING,
    FaceEmbedder,
    crop_face,
    expand_face_box,
    find_antelopev2_pack,
)
from mcld.errors import NoFaceWarning


def _fake_pack(directory):
    directory.mkdir(parents=True)
    for name in ANTELOPEV2_FILES:
        (directory / name).write_bytes(b"not an onnx model")
    return directory


def test_missing_pack_gives_zeros_and_warning(tmp_path, images_dir):
    photo = np.asarray(Image.open(images_dir / "reference_img_0.png").convert("RGB"))
    embedder = FaceEmbedder(root=tmp_path)
    assert embedder.pack_dir is None
    with pytest.warns(NoFaceWarning, match="Face identity is off"):
        result = embedder.detect(photo)
    assert result.status == "model_missing" and result.message == FACE_MODEL_MISSING_WARNING
    assert not embedder.model_status.available and str(tmp_path) in embedder.model_status.message
    assert result.embedding.shape == (1, 512) and result.embedding.dtype == np.float32
    assert not result.embedding.any()
    # MediaPipe fallback still finds the face for display: upper part, right of centre.
    pytest.importorskip("mediapipe")
    assert result.box is not None
    x0, y0, x1, y1 = result.box
    assert 0 <= y0 < y1 < 128 and 100 < (x0 + x1) / 2 < 220
    assert result.face_crop.shape == (224, 224, 3) and result.face_crop.dtype == np.uint8
    assert result.face_crop.std() > 10  # a real image region, not padding


def test_no_warning_when_asked(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = FaceEmbedder(root=tmp_path).detect(np.full((64, 64, 3), 200, np.uint8), warn=False)
    assert result.status == "model_missing" and result.box is None and result.face_crop is None


@pytest.mark.parametrize("layout", ["models/antelopev2", "models/antelopev2/antelopev2", "antelopev2"])
def test_pack_lookup_layouts(tmp_path, layout):
    pack = _fake_pack(tmp_path / layout)
    assert find_antelopev2_pack(tmp_path) == pack


def test_pack_lookup_from_environment(tmp_path, monkeypatch):
    pack = _fake_pack(tmp_path / "models" / "antelopev2" / "antelopev2")
    monkeypatch.setenv("MCLD_INSIGHTFACE_ROOT", str(tmp_path))
    assert find_antelopev2_pack() == pack
    monkeypatch.setenv("MCLD_INSIGHTFACE_ROOT", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # then the default Hub mirror: only its (empty) cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    assert find_antelopev2_pack() is None


def test_damaged_pack_is_reported_not_raised(tmp_path):
    _fake_pack(tmp_path / "models" / "antelopev2")
    embedder = FaceEmbedder(root=tmp_path)
    result = embedder.detect(np.zeros((64, 64, 3), np.uint8), warn=False)
    assert result.status == "model_missing" and not result.embedding.any()
    status = embedder.model_status
    assert not status.available and ANTELOPEV2_FILES[0] in status.message and "onnxruntime" in status.message


def test_face_crop_geometry():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :, 0] = np.arange(100, dtype=np.uint8)[None, :]  # red ramp along x
    image[:, :, 1] = 255
    np.testing.assert_array_equal(expand_face_box((40, 40, 60, 70)), [27, 32, 72, 77])  # 45 px square around (50, 55)
    crop = crop_face(image, (0, 0, 20, 20), size=60)  # 30 px square from -5
    assert crop.shape == (60, 60, 3)
    assert crop[:, :6, 1].max() == 0  # left padding (10 px after 2x) is black
    assert crop[:6, :, 1].max() == 0  # top padding too
    assert crop[30, 40, 1] == 255
    assert crop[30, 50, 0] > crop[30, 20, 0]  # ramp kept its direction
