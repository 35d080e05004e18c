"""DensePosePredictor contract, checkpoint loading/safety, and full-size key maps."""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mcld.annotators.densepose import (
    MODEL_CONFIGS,
    DensePoseConfig,
    DensePosePredictor,
    DensePoseRCNN,
    load_state_dict_file,
)
from mcld.annotators.densepose.checkpoint import (
    MODEL_ZOO,
    cached_safetensors,
    load_pickle_checkpoint,
    match_state_dict,
    resolve_weights,
)
from mcld.errors import CheckpointError, NoPersonError, WeightsNotFoundError


# ------------------------------------------------------------ full-size keys
def _read_key_list(path: Path) -> dict[str, tuple]:
    keys = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape, _kind = line.split("\t")
        keys[name] = tuple(int(v) for v in re.findall(r"\d+", shape))
    return keys


@pytest.mark.parametrize("name", sorted(MODEL_CONFIGS))
def test_full_size_keys_map_exactly(shared_dir, name):
    ref = _read_key_list(shared_dir / "golden" / "densepose_full_keys" / f"state_dict_keys_{name}.txt")
    with torch.device("meta"):
        model = DensePoseRCNN(MODEL_CONFIGS[name])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(ref) - set(ours)) == []
    assert sorted(set(ours) - set(ref)) == []
    assert {k: s for k, s in ours.items() if s != ref[k]} == {}
    # the config is recoverable from the shapes alone
    assert DensePoseConfig.from_state_dict(model.state_dict(), base=MODEL_CONFIGS[name]) == MODEL_CONFIGS[name]


# ------------------------------------------------------------------ predictor
@pytest.fixture(scope="module")
def tiny() -> DensePosePredictor:
    return DensePosePredictor.tiny(seed=0)


@pytest.fixture(scope="module")
def photo(images_dir) -> np.ndarray:
    return np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))


def test_tiny_given_box_contract(tiny, photo):
    box = np.array([[102, 4, 288, 556]], np.float32)
    res = tiny.detect(photo, boxes=box)
    assert len(res) == 1 and res.image_size == photo.shape[:2]
    assert res.boxes.dtype == np.float32 and res.boxes.shape == (1, 4)
    np.testing.assert_allclose(res.boxes, box, atol=1e-3)
    assert res.scores.tolist() == [1.0]
    x, y, w, h = res.boxes_xywh[0].tolist()
    assert (x, y, w, h) == (102, 4, 186, 551)  # float XYWH truncated toward zero
    assert res.labels[0].dtype == np.int64 and res.labels[0].shape == (h, w)
    assert 0 <= res.labels[0].min() and res.labels[0].max() <= 24
    assert res.uv[0].dtype == np.float32 and res.uv[0].shape == (2, h, w)
    assert (res.uv[0][:, res.labels[0] == 0] == 0).all()
    iuv = res.to_iuv()
    assert iuv.dtype == np.uint8 and iuv.shape == (*photo.shape[:2], 3)
    outside = np.ones(photo.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    assert not iuv[outside].any()
    np.testing.assert_array_equal(iuv[y : y + h, x : x + w, 0], res.labels[0])
    fg = res.labels[0] > 0
    assert fg.any(), "tiny model should label some pixels"
    expected_u = (res.uv[0][0][fg] * np.float32(255)).astype(np.uint8)
    np.testing.assert_array_equal(iuv[y : y + h, x : x + w, 1][fg], expected_u)


def test_tiny_is_deterministic_and_input_types_agree(tiny, photo):
    box = np.array([50, 60, 300, 500], np.float32)
    a = tiny.detect(photo, boxes=box)
    b = DensePosePredictor.tiny(seed=0).detect(Image.fromarray(photo), boxes=box)
    np.testing.assert_array_equal(a.to_iuv(), b.to_iuv())
    c = DensePosePredictor.tiny(seed=1).detect(photo, boxes=box)
    assert not np.array_equal(a.to_iuv(), c.to_iuv())


def test_full_pipeline_runs_and_empty_result_raises(tiny, photo):
    res = tiny.detect(photo)  # random weights: any number of detections, consistent fields
    assert res.boxes.shape == (len(res), 4) and res.scores.shape == (len(res),)
    assert len(res.labels) == len(res.uv) == len(res)
    assert np.all(np.diff(res.scores) <= 0)
    empty = tiny.detect(photo, boxes=np.zeros((0, 4), np.float32))
    assert len(empty) == 0
    with pytest.raises(NoPersonError, match="No person was found in the image") as err:
        empty.to_iuv()
    assert err.value.user_message


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((1, 3)), r"boxes must be \(N, 4\) XYXY pixels, got shape \(1, 3\)"),
        (np.array([[10, 10, 5, 20]]), r"boxes need x1 > x0 and y1 > y0, got \[\[10\.0, 10\.0, 5\.0, 20\.0\]\]"),
        (np.array([[0, 0, np.nan, 5]]), "boxes contain NaN or infinite values"),
    ],
)
def test_bad_boxes_raise_value_error(tiny, photo, bad, message):
    with pytest.raises(ValueError, match=message):
        tiny.detect(photo, boxes=bad)


# ----------------------------------------------------------------- checkpoints
class _Evil:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"model": OrderedDict(a=np.zeros(2)), "x": _Evil(str(target))}, protocol=3))
    with pytest.raises(CheckpointError, match="contains unexpected code and was not loaded") as err:
        load_pickle_checkpoint(path)
    assert "system" in str(err.value) and err.value.user_message
    assert not target.exists()


def test_pickle_of_numpy_arrays_loads(tmp_path):
    path = tmp_path / "ok.pkl"
    arrays = OrderedDict(w=np.arange(6, dtype=np.float32).reshape(2, 3))
    path.write_bytes(pickle.dumps({"model": arrays, "__author__": "test"}, protocol=3))
    loaded = load_state_dict_file(path)
    assert list(loaded) == ["w"] and torch.equal(loaded["w"], torch.arange(6.0).reshape(2, 3))


def test_match_state_dict_strict_but_ignores_legacy_keys(densepose_golden_dir):
    sd = load_state_dict_file(densepose_golden_dir / "model_final_tiny.pth")
    cfg = DensePoseConfig.from_state_dict(sd)
    model = DensePoseRCNN(cfg)
    legacy = {
        "pixel_mean": torch.zeros(3, 1, 1),
        "proposal_generator.anchor_generator.cell_anchors.0": torch.zeros(3, 4),
    }
    extra = dict(sd, **legacy)
    assert set(match_state_dict(model, extra)) == set(sd)
    broken = dict(sd, surprise=torch.zeros(1))
    del broken["roi_heads.box_head.fc1.weight"]
    with pytest.raises(CheckpointError, match=r"x\.pkl does not match the DensePose model") as err:
        match_state_dict(model, broken, "x.pkl")
    assert "roi_heads.box_head.fc1.weight" in str(err.value) and "surprise" in str(err.value)
    wrong = dict(sd, **{"backbone.fpn_output2.bias": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="fpn_output2.bias"):
        match_state_dict(model, wrong)


def test_safetensors_cache_and_from_pretrained(densepose_golden_dir, tmp_path, photo):
    pkl = densepose_golden_dir / "model_final_tiny.pkl"
    st = cached_safetensors(pkl, tmp_path)
    assert st.suffix == ".safetensors" and st.parent == tmp_path
    mtime = st.stat().st_mtime_ns
    assert cached_safetensors(pkl, tmp_path) == st and st.stat().st_mtime_ns == mtime
    a, b = load_state_dict_file(pkl), load_state_dict_file(st)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)

    box = np.array([102, 4, 288, 556], np.float32)
    cfg_yaml = densepose_golden_dir / "config.yaml"
    p1 = DensePosePredictor.from_pretrained(pkl, config=cfg_yaml, convert_to_safetensors=False)
    p2 = DensePosePredictor.from_pretrained(densepose_golden_dir / "model_final_tiny.pth", config=p1.cfg)
    np.testing.assert_array_equal(p1.detect(photo, boxes=box).to_iuv(), p2.detect(photo, boxes=box).to_iuv())
    # without a config: widths from the weights, real test sizes (800 / 1333)
    p3 = DensePosePredictor.from_pretrained(st)
    assert p3.cfg.fpn_out_channels == p1.cfg.fpn_out_channels and p3.cfg.min_size_test == 800


def test_missing_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="The DensePose weights model_final_844d15.pkl are missing and downloads are off") as err:
        DensePosePredictor.from_pretrained("R_101_FPN_DL_s1x")
    fname, url = MODEL_ZOO["R_101_FPN_DL_s1x"]
    assert fname in err.value.user_message and url in err.value.user_message
    with pytest.raises(WeightsNotFoundError, match="The DensePose weight file was not found"):
        resolve_weights(tmp_path / "nope.pkl")
    with pytest.raises(WeightsNotFoundError, match="were not found in the Hugging Face repo someone/densepose-weights and downloads are off"):
        resolve_weights("someone/densepose-weights", "model.pkl")
    # a file already in the cache is found without any download
    target = tmp_path / "densepose" / fname
    target.parent.mkdir()
    target.write_bytes(b"")
    assert resolve_weights("R_101_FPN_DL_s1x") == target


def test_autocast_around_the_call_changes_nothing(tiny, photo):
    # The app may wrap a whole request in autocast; DensePose must keep its
    # float32 numerics (detectron2's DefaultPredictor uses none).
    box = np.array([[102, 4, 288, 556]], np.float32)
    plain = tiny.detect(photo, boxes=box).to_iuv()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = tiny.detect(photo, boxes=box).to_iuv()
    np.testing.assert_array_equal(under, plain)


def test_half_precision_weights_run():
    # A predictor cast to bfloat16 gets its input in that dtype (no dtype
    # mismatch in the stem); results keep their documented dtypes.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    dp = DensePosePredictor.tiny(seed=0)
    dp.model.to(torch.bfloat16)
    assert dp.model.dtype == torch.bfloat16
    res = dp.detect(image, boxes=[[20, 30, 150, 280]])
    assert res.boxes.dtype == np.float32 and res.uv[0].dtype == np.float32
    assert res.labels[0].shape == (250, 130) and np.isfinite(res.uv[0]).all()
