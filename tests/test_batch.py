"""``python -m mcld batch`` in upstream's layout: a ``from,to`` pairs CSV in,
``<out>/256/`` and ``<out>/512/`` PNGs named as upstream ``test.py`` names
them out, resumable (tiny random weights); its inputs are upstream's (whole
DeepFashion frames squashed to 512x512, as ``src/dataset/deepfashion_dataset.py``
feeds ``test.py``), checked on real DeepFashion photos and DensePose IUVs."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mcld import cli, defaults
from mcld.annotators.uv_texture import build_uv_texture
from mcld.pose_transfer import PoseTransfer

PAIRS = [("reference_img_0.png", f"reference_img_{k}.png") for k in (1, 2, 3)]
SKIRT, BLOUSE = "fashionWOMENSkirtsid0000177102_1front", "fashionWOMENBlouses_Shirtsid0000635004_1front"


@pytest.fixture(scope="module")
def pt():
    return PoseTransfer.tiny(model_size=64)


@pytest.fixture()
def deepfashion(tmp_path, shared_dir):
    """Upstream's dataset folders for two real DeepFashion photos (348x512):
    ``test/`` photos, ``test_densepose/`` IUVs (cv2 order) and ``test_texture/``
    textures made by upstream's code, all named by the photo's stem."""
    golden = shared_dir / "golden" / "texture_pws"
    dirs = {k: tmp_path / k for k in ("test", "test_densepose", "test_texture", "test_face")}
    for folder in dirs.values():
        folder.mkdir()
    for name in (SKIRT, BLOUSE):
        shutil.copy(golden / f"{name}_photo.png", dirs["test"] / f"{name}.png")
        shutil.copy(golden / f"{name}_iuv.png", dirs["test_densepose"] / f"{name}.png")
        shutil.copy(golden / f"{name}_texture.png", dirs["test_texture"] / f"{name}.png")
    return dirs


def _upstream_resize(path, size=(512, 512)):
    """What upstream's dataset does to a test file: PIL open, ``resize`` (bicubic), as an array."""
    with Image.open(path) as im:
        return np.asarray(im.resize(size, Image.BICUBIC))


def test_upstream_source_conditions_are_the_whole_frame(pt, deepfashion):
    photo = deepfashion["test"] / f"{SKIRT}.png"
    src = cli.upstream_source_conditions(pt, photo, iuv_dir=deepfashion["test_densepose"])
    # The CLIP source image is the whole 348x512 frame squashed to 512x512, not a person crop.
    assert src.crop.shape == (512, 512, 3)
    np.testing.assert_array_equal(src.crop, _upstream_resize(photo))
    crop = pt.locate_person(photo).crop
    assert not np.array_equal(src.crop, np.asarray(Image.fromarray(crop).resize((512, 512), Image.BICUBIC)))
    # The texture is built from the whole frame and upstream's whole-frame IUV.
    full = np.asarray(Image.open(photo).convert("RGB"))
    iuv = _upstream_resize(deepfashion["test_densepose"] / f"{SKIRT}.png", (348, 512))[..., ::-1]
    np.testing.assert_array_equal(src.iuv, iuv)
    expected = build_uv_texture(full, iuv, template=pt.texture_template()).texture
    np.testing.assert_array_equal(src.texture, expected)
    # Upstream's test_texture/ and test_face/ files are taken as they are; a missing face file is zeros.
    emb = np.linspace(-1, 1, 512, dtype=np.float32)
    np.save(deepfashion["test_face"] / f"{SKIRT}.npy", emb)
    src = cli.upstream_source_conditions(
        pt, photo, texture_dir=deepfashion["test_texture"], face_dir=deepfashion["test_face"]
    )
    np.testing.assert_array_equal(src.texture, _upstream_resize(deepfashion["test_texture"] / f"{SKIRT}.png"))
    np.testing.assert_array_equal(src.face_embeds, emb[None])
    assert src.face_status == "ok"
    other = cli.upstream_source_conditions(
        pt, deepfashion["test"] / f"{BLOUSE}.png", texture_dir=deepfashion["test_texture"],
        face_dir=deepfashion["test_face"],
    )  # fmt: skip
    assert other.face_status == "no_face" and not other.face_embeds.any()


def test_upstream_target_conditions_are_the_whole_frame_iuv(pt, deepfashion):
    photo = deepfashion["test"] / f"{BLOUSE}.png"
    tgt = cli.upstream_target_conditions(pt, photo, iuv_dir=deepfashion["test_densepose"])
    # Upstream: PIL reads the cv2-written PNG as (V, U, I) and bicubic-resizes it to 512x512.
    upstream = _upstream_resize(deepfashion["test_densepose"] / f"{BLOUSE}.png")
    np.testing.assert_array_equal(tgt.iuv, upstream[..., ::-1])
    assert tgt.photo is None
    # Without upstream's IUVs, DensePose runs on the whole frame.
    tgt = cli.upstream_target_conditions(pt, photo)
    assert tgt.photo.size == (348, 512) and tgt.iuv.shape == (512, 512, 3)
    with pytest.raises(FileNotFoundError, match="nobody.png"):
        cli.upstream_target_conditions(pt, photo.with_name("nobody.png"), iuv_dir=deepfashion["test_densepose"])


def test_batch_feeds_upstream_conditions_and_writes_upstream_gt(pt, tmp_path, deepfashion, capsys):
    (tmp_path / "test.csv").write_text(f"from,to\n{SKIRT}.png,{BLOUSE}.png\n")
    name = f"{SKIRT}_2_{BLOUSE}"
    common = ["batch", "--tiny", "--tiny-model-size", "64", "--steps", "1", "--pairs", str(tmp_path / "test.csv"),
              "--image-dir", str(deepfashion["test"]), "--iuv-dir", str(deepfashion["test_densepose"])]  # fmt: skip
    assert cli.main([*common, "--out-dir", str(tmp_path / "out"), "--gt-dir", str(tmp_path / "gt")]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["name"] == name and line["protocol"] == "upstream"
    # The written result is exactly the generation from upstream's whole-frame conditions.
    src = cli.upstream_source_conditions(pt, deepfashion["test"] / f"{SKIRT}.png", iuv_dir=deepfashion["test_densepose"])
    tgt = cli.upstream_target_conditions(pt, deepfashion["test"] / f"{BLOUSE}.png", iuv_dir=deepfashion["test_densepose"])
    result = pt.generate(src, tgt, num_inference_steps=1, seed=defaults.SEED, guidance_scale=defaults.GUIDANCE_SCALE)
    written = np.asarray(Image.open(tmp_path / "out" / "256" / f"{name}.png"))
    np.testing.assert_array_equal(written, np.asarray(result.image_256x176))
    # Ground truth as upstream's dataset makes gt_256 / gt_512: the whole target frame, PIL bicubic.
    for sub, size in (("256", (176, 256)), ("512", (352, 512))):
        gt = np.asarray(Image.open(tmp_path / "gt" / sub / f"{name}.png"))
        np.testing.assert_array_equal(gt, _upstream_resize(deepfashion["test"] / f"{BLOUSE}.png", size))
    # --person-crop is another mode: its inputs, and so its result, differ.
    assert cli.main([*common, "--out-dir", str(tmp_path / "crop"), "--person-crop"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["protocol"] == "person_crop"
    cropped = np.asarray(Image.open(tmp_path / "crop" / "256" / f"{name}.png"))
    assert cropped.shape == written.shape and not np.array_equal(cropped, written)


def _run(tmp_path, images_dir, capsys):
    rc = cli.main([
        "batch", "--tiny", "--tiny-model-size", "64", "--steps", "1", "--pairs", str(tmp_path / "test.csv"),
        "--image-dir", str(images_dir), "--iuv-dir", str(tmp_path / "test_densepose"), "--out-dir", str(tmp_path / "out"),
    ])  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return rc, lines


def test_upstream_pairs_csv_layout_and_resume(tmp_path, images_dir, shared_dir, capsys):
    # pandas-written test.csv (unnamed index column), as upstream's data/test.csv.
    with open(tmp_path / "test.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "from", "to"])
        writer.writerows([i, a, b] for i, (a, b) in enumerate(PAIRS))
    # Upstream's test_densepose/<to stem>.png: real DensePose IUVs (cv2 channel order).
    (tmp_path / "test_densepose").mkdir()
    for (_, to), iuv in zip(PAIRS, sorted((shared_dir / "poses").glob("*_iuv.png"))):
        shutil.copy(iuv, tmp_path / "test_densepose" / to)

    rc, lines = _run(tmp_path, images_dir, capsys)
    assert rc == 0
    names = ["reference_img_0_2_reference_img_1", "reference_img_0_2_reference_img_2", "reference_img_0_2_reference_img_3"]
    assert [line["name"] for line in lines] == names and not any("skipped" in line for line in lines)
    for sub, size in (("256", (176, 256)), ("512", (352, 512))):
        files = sorted(p.name for p in (tmp_path / "out" / sub).iterdir())
        assert files == [f"{n}.png" for n in names]
        assert all(Image.open(tmp_path / "out" / sub / f).size == size for f in files)
    # The three targets differ, so the results do.
    images = [Image.open(tmp_path / "out" / "256" / f"{n}.png").tobytes() for n in names]
    assert len(set(images)) == 3
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}

    rc, lines = _run(tmp_path, images_dir, capsys)
    assert rc == 0
    assert [line.get("skipped") for line in lines] == ["exists"] * 3
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")} == stamp


def test_upstream_result_name_is_upstreams():
    assert cli.upstream_result_name("fashionWOMENid01_1front.jpg", "fashionWOMENid01_2side.jpg") == (
        "fashionWOMENid01_1front_2_fashionWOMENid01_2side"
    )


def test_csv_without_known_columns_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert cli.main(["batch", "--tiny", "--pairs", str(tmp_path / "x.csv"), "--out-dir", str(tmp_path)]) == 2
    assert "from,to" in capsys.readouterr().err


def test_upstream_format_needs_an_image_dir(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("from,to\na.jpg,b.jpg\n")
    assert cli.main(["batch", "--tiny", "--tiny-model-size", "64", "--pairs", str(tmp_path / "t.csv"),
                     "--out-dir", str(tmp_path)]) == 2  # fmt: skip
    assert "--image-dir" in capsys.readouterr().err
