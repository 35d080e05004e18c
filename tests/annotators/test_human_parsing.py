"""Human parsing: SCHP ONNX path with a tiny hand-built ONNX model, and the
coarse MediaPipe fallback on real photos."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from mcld.annotators.human_parsing import (
    ATR_LABELS,
    ATR_TO_REGION,
    LIP_LABELS,
    LIP_TO_REGION,
    REGIONS,
    SCHP_MEAN_BGR,
    SCHP_STD_BGR,
    HumanParser,
    ParsingResult,
    SCHPOnnxParser,
    draw_parsing_overlay,
    labels_to_regions,
    schp_preprocess,
)
from mcld.errors import CheckpointError, NoPersonError, WeightsNotFoundError

mp = pytest.importorskip("mediapipe")

FRONT_VIEWS = ["reference_img_0.png", "reference_img_1.png", "reference_img_2.png", "reference_img_4.png", "reference_img_5.png"]
GRID_ROWS, GRID_COLS = 3, 6  # 18 ATR classes laid out as a 3 x 6 grid over the network input


# ---------------------------------------------------------------- tiny ONNX


def _grid_logits(num_classes: int, rows: int, cols: int, in_size: tuple[int, int], out_hw: int = 64) -> np.ndarray:
    """(1, C, out, out) logits whose arg-max is the grid cell of the network-input position.

    Logit c at output pixel (i, j) = -(|x' - cx_c| / cell_w + |y' - cy_c| / cell_h),
    with (x', y') the network-input position of (i, j) under align_corners upsampling.
    """
    in_h, in_w = in_size
    xs = np.arange(out_hw) * (in_w - 1) / (out_hw - 1)
    ys = np.arange(out_hw) * (in_h - 1) / (out_hw - 1)
    cell_w, cell_h = in_w / cols, in_h / rows
    logits = np.full((1, num_classes, out_hw, out_hw), -1e3, dtype=np.float32)
    for c in range(rows * cols):
        cy, cx = (c // cols + 0.5) * cell_h, (c % cols + 0.5) * cell_w
        logits[0, c] = -(np.abs(xs[None, :] - cx) / cell_w + np.abs(ys[:, None] - cy) / cell_h)
    return logits


def _write_onnx(path, num_classes: int, in_size: tuple[int, int] | None, fusion: np.ndarray) -> None:
    """ONNX graph: input.1 -> [parsing, fusion, edge], like IDM-VTON's SCHP export.

    Every output is a constant plus 0 * mean(input), so the graph really reads the input.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = [1, 3, *in_size] if in_size else ["N", 3, "H", "W"]
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)
    wrong = fusion[:, ::-1].copy()  # the first output must not be used
    edge = np.zeros((1, 2, *fusion.shape[2:]), dtype=np.float32)
    consts = {"c_parsing": wrong, "c_fusion": fusion, "c_edge": edge}
    nodes = [
        helper.make_node("ReduceMean", ["input.1"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    outputs = []
    for name, value in consts.items():
        out = name[2:]
        nodes.append(helper.make_node("Add", [name, "z"], [out]))
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, list(value.shape)))
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    inits.append(numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"))
    graph = helper.make_graph(nodes, "tiny_schp", [x], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def atr_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("schp") / "parsing_atr.onnx"
    _write_onnx(path, 18, (512, 512), _grid_logits(18, GRID_ROWS, GRID_COLS, (512, 512)))
    return path


@pytest.fixture(scope="module")
def photo(images_dir):
    return np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))  # 420 x 560, portrait


def test_preprocess_normalises_bgr_and_pads_black():
    image = np.zeros((40, 20, 3), np.uint8)
    image[:] = (200, 100, 50)  # RGB
    tensor, matrix = schp_preprocess(image, (512, 512))
    assert tensor.shape == (1, 3, 512, 512) and tensor.dtype == np.float32
    expected = (np.array([50, 100, 200]) / 255.0 - SCHP_MEAN_BGR) / SCHP_STD_BGR  # BGR order
    np.testing.assert_allclose(tensor[0, :, 256, 256], expected, atol=1e-5)
    # Portrait photo: the box is widened to square, so the left and right margins are padding.
    np.testing.assert_allclose(tensor[0, :, 256, 5], -SCHP_MEAN_BGR / SCHP_STD_BGR, atol=1e-5)
    # Photo centre maps to the input centre, uniform scale 512 / (H - 1).
    k = 512 / 39
    np.testing.assert_allclose(matrix, [[k, 0, 256 - k * 9.5], [0, k, 256 - k * 19.5]])


def test_onnx_parser_warps_logits_back_to_photo(atr_onnx, photo):
    parser = HumanParser.from_pretrained(atr_onnx)
    result = parser.detect(photo)
    h, w = photo.shape[:2]
    assert result.source == "schp-atr-onnx"
    assert result.label_map.shape == (h, w) and result.label_map.dtype == np.uint8
    assert result.raw_labels.shape == (h, w) and result.raw_labels.max() < len(ATR_LABELS)
    np.testing.assert_array_equal(result.label_map, labels_to_regions(result.raw_labels, "atr"))

    # Expected label of each photo pixel from SCHP's geometry: the portrait box is
    # widened to a square of side H - 1, scaled by 512 / (H - 1), centred.
    k = 512 / (h - 1)
    xs = k * (np.arange(w) - (w - 1) / 2) + 256
    ys = k * (np.arange(h) - (h - 1) / 2) + 256
    col = np.clip((xs / (512 / GRID_COLS)).astype(int), 0, GRID_COLS - 1)
    row = np.clip((ys / (512 / GRID_ROWS)).astype(int), 0, GRID_ROWS - 1)
    expected = row[:, None] * GRID_COLS + col[None, :]
    agreement = (result.raw_labels == expected).mean()
    assert agreement > 0.98, agreement
    # The photo spans only the middle 75 % of the input width, so the outer column
    # bands are narrow: a stretched (non aspect-keeping) warp would make them 1/6 wide.
    left_band_width = (result.raw_labels[h // 2] % GRID_COLS == 0).sum()
    assert abs(left_band_width - ((512 / GRID_COLS) - xs[0]) / k) <= 2


def test_onnx_parser_lip_dynamic_input(tmp_path, photo):
    path = tmp_path / "parsing_lip.onnx"
    _write_onnx(path, 20, None, _grid_logits(20, 4, 5, (473, 473)))
    parser = SCHPOnnxParser(path)
    assert parser.input_size == (473, 473)  # LIP default when the model input is dynamic
    result = parser.detect(photo[:300, :200].copy())
    assert result.source == "schp-lip-onnx"
    assert result.label_map.shape == (300, 200)
    assert result.raw_labels.max() < len(LIP_LABELS)
    assert set(np.unique(result.label_map)) <= set(range(len(REGIONS)))


def test_label_tables_cover_every_label():
    assert set(ATR_TO_REGION) == set(ATR_LABELS) and len(ATR_LABELS) == 18
    assert set(LIP_TO_REGION) == set(LIP_LABELS) and len(LIP_LABELS) == 20
    assert set(ATR_TO_REGION.values()) | set(LIP_TO_REGION.values()) == set(REGIONS)
    atr = labels_to_regions(np.array([[11, 4, 6, 7, 9, 14, 12, 2, 16]]), "atr")
    assert [REGIONS[i] for i in atr[0]] == [
        "face", "upper_garment", "lower_garment", "dress", "shoes", "arms", "legs", "hair", "background"
    ]
    with pytest.raises(ValueError, match=re.escape("label ids must lie in [0, 18) for 'atr'")):
        labels_to_regions(np.array([[18]]), "atr")


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="The human-parsing weights file was not found"):
        HumanParser.from_pretrained(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(CheckpointError, match="The human-parsing model file is damaged or not an ONNX model"):
        HumanParser.from_pretrained(bad)


def test_from_pretrained_falls_back_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.warns(RuntimeWarning, match="coarse MediaPipe parser"):
        parser = HumanParser.from_pretrained(None, cache_dir=tmp_path)
    assert parser.source == "mediapipe-coarse"
    with pytest.raises(WeightsNotFoundError, match="The human-parsing weights could not be downloaded"):
        HumanParser.from_pretrained(None, cache_dir=tmp_path, fallback=False)


# ---------------------------------------------------------------- MediaPipe coarse


@pytest.fixture(scope="module")
def coarse_parser():
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    yield parser
    parser.backend.close()


@pytest.fixture(scope="module")
def reference(images_dir):
    """Independent MediaPipe views of each photo: face box, pose landmarks, person mask."""
    detector = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    out = {}
    for name in FRONT_VIEWS + ["reference_img_3.png"]:
        image = np.asarray(Image.open(images_dir / name).convert("RGB"))
        h, w = image.shape[:2]
        det = detector.process(image).detections
        box = None
        if det:
            rb = det[0].location_data.relative_bounding_box
            box = (rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h)
        lms = pose.process(image).pose_landmarks
        points = np.array([[p.x * w, p.y * h] for p in lms.landmark])
        person = segmenter.process(image).segmentation_mask > 0.5
        out[name] = {"image": image, "face_box": box, "pose": points, "person": person}
    for graph in (detector, pose, segmenter):
        graph.close()
    return out


@pytest.fixture(scope="module")
def coarse_results(coarse_parser, reference):
    return {name: coarse_parser.detect(ref["image"]) for name, ref in reference.items()}


@pytest.mark.parametrize("name", FRONT_VIEWS)
def test_coarse_regions_valid_and_on_person(name, reference, coarse_results):
    result, ref = coarse_results[name], reference[name]
    assert isinstance(result, ParsingResult) and result.source == "mediapipe-coarse"
    assert result.label_map.shape == ref["image"].shape[:2] and result.label_map.dtype == np.uint8
    assert result.label_map.max() < len(REGIONS)
    masks = np.stack([result.mask(region) for region in REGIONS])
    np.testing.assert_array_equal(masks.sum(axis=0), 1)  # a partition: one region per pixel
    person_pixels = result.label_map > 0
    assert person_pixels.sum() > 0.9 * ref["person"].sum()
    assert (person_pixels & ~ref["person"]).sum() <= 0.02 * person_pixels.sum()
    for region in ("face", "hair", "upper_garment", "lower_garment"):
        assert result.mask(region).sum() > 100, region


@pytest.mark.parametrize("name", FRONT_VIEWS)
def test_coarse_face_inside_face_box(name, reference, coarse_results):
    face = coarse_results[name].mask("face")
    x0, y0, x1, y1 = reference[name]["face_box"]
    pad = 0.25 * (x1 - x0)  # the detector box stops at the brows; the face oval reaches the hairline
    ys, xs = np.nonzero(face)
    inside = (xs >= x0 - pad) & (xs <= x1 + pad) & (ys >= y0 - pad) & (ys <= y1 + pad)
    assert inside.mean() > 0.97
    # ... and it covers most of the (unpadded) box.
    box = np.zeros_like(face)
    box[int(y0) : int(y1), int(x0) : int(x1)] = True
    assert (face & box).sum() > 0.4 * box.sum()


@pytest.mark.parametrize("name", FRONT_VIEWS)
def test_coarse_upper_garment_between_shoulders_and_hips(name, reference, coarse_results):
    pose = reference[name]["pose"]
    shoulder_y = pose[[11, 12], 1].min()
    hip_y = pose[[23, 24], 1].max()
    tol = 0.15 * (hip_y - shoulder_y)
    ys, _ = np.nonzero(coarse_results[name].mask("upper_garment"))
    between = (ys >= shoulder_y - tol) & (ys <= hip_y + tol)
    assert between.mean() > 0.95


def test_coarse_back_view_has_hair_but_no_face(coarse_results):
    result = coarse_results["reference_img_3.png"]
    assert result.mask("face").sum() == 0
    assert result.mask("hair").sum() > 200


def test_coarse_keeps_input_size_and_refuses_empty_photo(coarse_parser, photo):
    result = coarse_parser.detect(Image.fromarray(photo))  # 420 x 560 PIL: parsed at 512 and resized back
    assert result.label_map.shape == photo.shape[:2]
    assert {"face", "upper_garment"} <= set(result.present_regions(50))
    with pytest.raises(NoPersonError, match="No person was found in this photo"):
        coarse_parser.detect(np.full((256, 256, 3), 128, np.uint8))


def test_overlay_colours_regions_and_keeps_background(reference, coarse_results):
    name = "reference_img_2.png"
    image, result = reference[name]["image"], coarse_results[name]
    overlay = draw_parsing_overlay(image, result, alpha=0.5)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    legend_free = np.zeros(result.label_map.shape, bool)
    legend_free[:, image.shape[1] // 2 :] = True
    background = (result.label_map == 0) & legend_free
    np.testing.assert_array_equal(overlay[background], image[background])
    face = result.mask("face")
    target = np.array([255, 200, 120])  # REGION_COLORS["face"]
    before = np.abs(image[face].astype(int) - target).mean()
    after = np.abs(overlay[face].astype(int) - target).mean()
    assert after < 0.6 * before
    assert not np.array_equal(overlay[:40, :40], image[:40, :40])  # legend drawn top-left
    with pytest.raises(ValueError, match=re.escape("image is (100, 256) but the label map is (256, 256)")):
        draw_parsing_overlay(image[:100], result)
