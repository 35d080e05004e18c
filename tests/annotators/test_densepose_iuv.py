"""DensePose IUV helpers (mcld.annotators.densepose.iuv): the exact mirror with
DensePose's UV symmetry table (a synthetic table in detectron2's .mat layout,
served from a loopback HTTP server), its cache and offline fallback, and the
on-disk IUV format of the real DensePose poses in ../shared/poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from mcld.annotators.densepose.iuv import (
    APPROXIMATE_MIRROR_NOTE,
    DENSEPOSE_FLIP_PAIRS,
    POINT_LABEL_SYMMETRIES,
    UV_SYMMETRY_URL,
    UVSymmetry,
    find_uv_symmetry,
    load_uv_symmetry,
    mirror_iuv,
    read_iuv_png,
)
from mcld.errors import CheckpointError, WeightsNotFoundError
from tests.helpers.file_server import FileServer


def _table_u(i: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mirrored U byte of part i+1 in the synthetic table (depends on u, v and the part)."""
    return (u + 3 * v + 5 * i) % 255


def _table_v(i: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (2 * u + v + 7 * i) % 255


def _write_synthetic_mat(path: Path) -> Path:
    """UV_symmetry_transforms.mat in detectron2's layout: U_transforms and
    V_transforms, 1 x 24 cell arrays of 256 x 256 floats indexed [V*255, U*255].
    Values sit at byte centres ((k + 0.5) / 255), so the expected bytes are k."""
    v, u = np.mgrid[0:256, 0:256]
    cells = {}
    for key, fn in (("U_transforms", _table_u), ("V_transforms", _table_v)):
        arr = np.empty((1, 24), dtype=object)
        for i in range(24):
            arr[0, i] = (fn(i, u, v) + 0.5) / 255.0
        cells[key] = arr
    scipy.io.savemat(str(path), cells)
    return path


@pytest.fixture(scope="module")
def synthetic_mat(tmp_path_factory) -> Path:
    return _write_synthetic_mat(tmp_path_factory.mktemp("uvsym") / "UV_symmetry_transforms.mat")


@pytest.fixture()
def server(synthetic_mat):
    with FileServer({"UV_symmetry_transforms.mat": synthetic_mat.read_bytes(), "garbage.mat": b"not a mat file"}) as srv:
        yield srv


def _random_iuv(seed: int = 0, shape=(24, 20)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    iuv = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    iuv[..., 0] = rng.integers(0, 25, shape)
    iuv[iuv[..., 0] == 0] = 0
    return iuv


def test_point_label_symmetries_are_detectron2s():
    # detectron2 DensePoseTransformData.POINT_LABEL_SYMMETRIES, written out.
    assert POINT_LABEL_SYMMETRIES == (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23)
    assert all(POINT_LABEL_SYMMETRIES[a] == b and POINT_LABEL_SYMMETRIES[b] == a for a, b in DENSEPOSE_FLIP_PAIRS)


def test_exact_mirror_fetched_from_a_loopback_server_maps_uv_through_the_table(server, tmp_path):
    sym = load_uv_symmetry(server.url("UV_symmetry_transforms.mat"), cache_dir=tmp_path, local_files_only=False, timeout=5)
    assert sym.u_lut.shape == sym.v_lut.shape == (24, 256, 256) and sym.u_lut.dtype == np.uint8
    iuv = _random_iuv()
    out = mirror_iuv(iuv, sym)
    flipped = iuv[:, ::-1]
    parts = flipped[..., 0].astype(int)
    u, v = flipped[..., 1].astype(int), flipped[..., 2].astype(int)
    body = parts > 0
    # Each pixel: new part = its mirror part; new (U, V) = table of its ORIGINAL part at [V, U].
    for y, x in zip(*np.nonzero(body)):
        i = parts[y, x] - 1
        assert out[y, x, 0] == POINT_LABEL_SYMMETRIES[i + 1]
        assert out[y, x, 1] == _table_u(i, u[y, x], v[y, x]), (y, x)
        assert out[y, x, 2] == _table_v(i, u[y, x], v[y, x]), (y, x)
    assert not out[~body].any()
    # The approximate mirror differs (the table is not a reflection).
    assert not np.array_equal(out, mirror_iuv(iuv))


def test_table_is_downloaded_once_then_read_from_the_cache_offline(server, tmp_path):
    url = server.url("UV_symmetry_transforms.mat")
    first = load_uv_symmetry(url, cache_dir=tmp_path, local_files_only=False, timeout=5)
    assert len(server.requests) == 1
    cached = list(tmp_path.glob("*UV_symmetry_transforms.mat"))
    assert len(cached) == 1 and not list(tmp_path.glob(".part-*"))
    server.close()  # the server is gone: the cache alone must do
    again, note = find_uv_symmetry(url, cache_dir=tmp_path, local_files_only=True)
    assert note is None and again.sha256 == first.sha256
    np.testing.assert_array_equal(again.u_lut, first.u_lut)


def test_offline_without_cache_falls_back_to_the_approximate_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sym, note = find_uv_symmetry(cache_dir=tmp_path)  # the official URL, offline
    assert sym is None
    assert "UV_symmetry_transforms.mat" in note and UV_SYMMETRY_URL in note and "downloads are off" in note
    assert not any(tmp_path.iterdir())
    iuv = _random_iuv(1)
    np.testing.assert_array_equal(mirror_iuv(mirror_iuv(iuv)), iuv)  # the approximation is an involution
    assert "approximate" in APPROXIMATE_MIRROR_NOTE


def test_a_bad_download_is_rejected_and_not_cached(server, tmp_path):
    with pytest.raises(CheckpointError, match="unreadable|layout"):
        load_uv_symmetry(server.url("garbage.mat"), cache_dir=tmp_path, local_files_only=False, timeout=5)
    assert not any(tmp_path.iterdir())
    with pytest.raises(WeightsNotFoundError, match="could not be downloaded"):
        load_uv_symmetry(server.url("missing.mat"), cache_dir=tmp_path, local_files_only=False, timeout=5)


def test_a_silent_server_times_out_quickly(tmp_path, synthetic_mat):
    with FileServer(stall_s=3.0) as srv:  # takes the request, answers nothing for 3 s
        sym, note = find_uv_symmetry(srv.url("UV_symmetry_transforms.mat"), cache_dir=tmp_path, local_files_only=False, timeout=0.5)
    assert sym is None and "could not be downloaded" in note


def test_a_local_path_and_a_wrong_layout(synthetic_mat, tmp_path):
    sym = load_uv_symmetry(synthetic_mat)
    assert isinstance(sym, UVSymmetry) and sym.source == str(synthetic_mat)
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(str(bad), {"U_transforms": np.zeros((2, 2))})
    with pytest.raises(CheckpointError, match="layout"):
        load_uv_symmetry(bad)
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_uv_symmetry(tmp_path / "nope.mat")


def test_mirror_rejects_what_is_not_an_iuv():
    with pytest.raises(ValueError, match="uint8"):
        mirror_iuv(np.zeros((4, 4, 3), np.float32))
    bad = np.zeros((4, 4, 3), np.uint8)
    bad[0, 0, 0] = 30
    with pytest.raises(ValueError, match="0..24"):
        mirror_iuv(bad)


@pytest.fixture(scope="module")
def real_iuv_paths(shared_dir) -> list[Path]:
    paths = sorted((shared_dir / "poses").glob("*_iuv.png"))
    assert paths, "no real DensePose IUVs in ../shared/poses"
    return paths


def test_real_densepose_pngs_read_as_i_u_v(real_iuv_paths):
    import cv2

    for path in real_iuv_paths:
        iuv = read_iuv_png(path)
        # ../shared/poses/README.md: cv2.imread gives channel 0 = I, 1 = U, 2 = V; PIL gives R = V, B = I.
        np.testing.assert_array_equal(iuv, cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        pil = np.asarray(Image.open(path))
        np.testing.assert_array_equal(pil[..., 2], iuv[..., 0])
        parts = set(np.unique(iuv[..., 0]).tolist()) - {0}
        assert {2, 3, 4, 9, 10, 23, 24} <= parts <= set(range(1, 25)), (path.name, parts)
        assert not iuv[iuv[..., 0] == 0].any()  # background is (0, 0, 0)


def test_an_iuv_png_with_i_in_red_is_rejected(real_iuv_paths, tmp_path):
    iuv = read_iuv_png(real_iuv_paths[0])
    wrong = tmp_path / "i_in_red.png"
    Image.fromarray(iuv).save(wrong)  # R = I, G = U, B = V: pose-with-style's layout, not MCLD's
    with pytest.raises(ValueError, match="0..24"):
        read_iuv_png(wrong)


def test_mirror_of_a_real_iuv_swaps_sides_and_flips_the_silhouette(real_iuv_paths, synthetic_mat):
    iuv = read_iuv_png(real_iuv_paths[0])
    for sym in (None, load_uv_symmetry(synthetic_mat)):
        out = mirror_iuv(iuv, sym)
        np.testing.assert_array_equal(out[..., 0] > 0, iuv[:, ::-1, 0] > 0)
        for a, b in DENSEPOSE_FLIP_PAIRS:  # e.g. the right hand's pixels become the left hand's
            np.testing.assert_array_equal(out[..., 0] == b, iuv[:, ::-1, 0] == a)


def test_pose_transfer_mirrors_a_target_exactly_once_the_table_is_cached(tmp_path, monkeypatch, synthetic_mat, images_dir):
    """PoseTransfer.prepare_target(mirror=True) reads DensePose's table from the
    cache (MCLD_CACHE/densepose) on first use; without it, it says the mirror
    is approximate."""
    import shutil

    from mcld.annotators.densepose import DensePosePredictor
    from mcld.pose_transfer import PoseTransfer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    densepose = DensePosePredictor.tiny(seed=1)
    person = PoseTransfer(None, densepose, use_detector=False, tiny=True).locate_person(
        images_dir / "reference_img_0.png", what="target"
    )
    plain = PoseTransfer(None, densepose, use_detector=False, tiny=True).prepare_target(person)
    for cached in (False, True):
        cache = tmp_path / f"cache_{cached}"
        if cached:
            (cache / "densepose").mkdir(parents=True)
            shutil.copy(synthetic_mat, cache / "densepose" / "UV_symmetry_transforms.mat")
        monkeypatch.setenv("MCLD_CACHE", str(cache))
        pt = PoseTransfer(None, densepose, use_detector=False, tiny=True)  # a fresh instance: no table yet
        mirrored = pt.prepare_target(person, mirror=True)
        table, note = pt.uv_symmetry()
        approximate = any("approximate" in w for w in mirrored.warnings)
        assert approximate == (not cached) and (table is None) == (not cached) and (note is None) == cached
        np.testing.assert_array_equal(mirrored.iuv, mirror_iuv(plain.iuv, table))
