"""The demo's DeepFashion example photos: fetched from a pinned commit, checked by
sha256, cached; the scikit-image fallback when offline.

A loopback HTTP server stands in for raw.githubusercontent.com: it serves the two
photos of ``../shared/golden/texture_pws`` (byte-identical to upstream's
``data/<name>.png``) under their upstream names and answers 404 for the third
(``..._3back.png``, which only upstream has), so every test also sees a missing
photo reported and skipped. It counts requests, so "offline" is shown to make none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcld.gallery.examples import (
    DEEPFASHION_BASE_URL,
    DEEPFASHION_COMMIT,
    DEEPFASHION_PAIRS,
    DEEPFASHION_PHOTOS,
    EXAMPLES_BASE_URL_ENV,
    examples_cache_dir,
    fallback_example_rows,
    fetch_deepfashion_photos,
)
from mcld.hub_files import ChecksumMismatch, DownloadFailed, download_pinned
from tests.helpers.file_server import FileServer

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "golden" / "texture_pws"
# Upstream file name -> the shared copy of it.
SERVED = {p.filename: SHARED / f"{p.filename[:-4]}_photo.png" for p in DEEPFASHION_PHOTOS.values()}
SERVED = {k: v for k, v in SERVED.items() if v.is_file()}
HAVE = {n for n, p in DEEPFASHION_PHOTOS.items() if p.filename in SERVED}  # blouse_front, skirt_front

pytestmark = pytest.mark.skipif(len(SERVED) != 2, reason="needs ../shared/golden/texture_pws/*_photo.png")


def _photo_server(corrupt: bool = False) -> FileServer:
    """Serves ``SERVED`` at ``/data/<upstream name>`` on 127.0.0.1; 404 otherwise.

    ``corrupt=True`` flips one byte of every body. ``requests`` logs every request's path.
    """
    files = {}
    for name, path in SERVED.items():
        body = bytearray(path.read_bytes())
        if corrupt:
            body[1000] ^= 0xFF
        files[f"data/{name}"] = bytes(body)
    return FileServer(files)


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads allowed, an empty cache, no examples dataset."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("MCLD_OFFLINE", raising=False)
    monkeypatch.delenv("MCLD_EXAMPLES_DATASET", raising=False)
    monkeypatch.delenv(EXAMPLES_BASE_URL_ENV, raising=False)
    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))
    return tmp_path


def test_pinned_files_are_upstreams():
    assert DEEPFASHION_BASE_URL == (
        f"https://raw.githubusercontent.com/BadourAlBahar/pose-with-style/{DEEPFASHION_COMMIT}/data"
    )
    assert DEEPFASHION_COMMIT == "f344f3bcad621cb2faf8b2cb83a1c38975871072"  # the commit of assets/poses
    assert set(DEEPFASHION_PHOTOS) == {n for pair in DEEPFASHION_PAIRS for n in pair}
    for name in HAVE:  # the two we can check: same bytes as the shared copies of upstream's files
        photo, data = DEEPFASHION_PHOTOS[name], SERVED[DEEPFASHION_PHOTOS[name].filename].read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (photo.sha256, photo.size)
    assert all("DeepFashion In-shop" in p.licence and "MIT" in p.licence for p in DEEPFASHION_PHOTOS.values())


def test_fetch_downloads_checks_caches_and_reports_the_missing_one(tmp_path):
    with _photo_server() as server:
        got = fetch_deepfashion_photos(tmp_path, local_files_only=False, base_url=server.url("data"), timeout=5)
        assert list(got) == list(DEEPFASHION_PHOTOS) and len(server.requests) == 3
        for name in HAVE:
            assert got[name].status == "downloaded" and got[name].ok
            assert got[name].path == examples_cache_dir(tmp_path) / DEEPFASHION_PHOTOS[name].filename
            assert got[name].path.read_bytes() == SERVED[DEEPFASHION_PHOTOS[name].filename].read_bytes()
        missing = got["dress_back"]
        assert missing.status == "unreachable" and missing.path is None and "404" in missing.detail
        # Second call: the two are cached (no request), the missing one is asked again.
        again = fetch_deepfashion_photos(tmp_path, local_files_only=False, base_url=server.url("data"), timeout=5)
        assert {n: f.status for n, f in again.items()} == {
            "blouse_front": "cached",
            "skirt_front": "cached",
            "dress_back": "unreachable",
        }
        assert len(server.requests) == 4
        # A damaged cached file is deleted and fetched again.
        damaged = got["blouse_front"].path
        damaged.write_bytes(damaged.read_bytes()[:-10])
        third = fetch_deepfashion_photos(tmp_path, local_files_only=False, base_url=server.url("data"), timeout=5)
        assert third["blouse_front"].status == "downloaded" and len(server.requests) == 6
        assert hashlib.sha256(damaged.read_bytes()).hexdigest() == DEEPFASHION_PHOTOS["blouse_front"].sha256
    folder = examples_cache_dir(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(SERVED)  # no temporary files left


def test_a_corrupt_download_is_refused_and_not_cached(tmp_path):
    with _photo_server(corrupt=True) as server:
        got = fetch_deepfashion_photos(tmp_path, local_files_only=False, base_url=server.url("data"), timeout=5)
        for name in HAVE:
            assert got[name].status == "corrupt" and got[name].path is None
            assert "sha256" in got[name].detail and "not kept" in got[name].detail
        # The shared helper itself raises, with both digests.
        url = server.url(f"data/{DEEPFASHION_PHOTOS['skirt_front'].filename}")
        with pytest.raises(ChecksumMismatch, match=f"expected {DEEPFASHION_PHOTOS['skirt_front'].sha256}"):
            download_pinned(url, DEEPFASHION_PHOTOS["skirt_front"].sha256, tmp_path / "x" / "skirt.png", timeout=5)
        with pytest.raises(DownloadFailed, match="404"):
            download_pinned(server.url("data/nothing.png"), "0" * 64, tmp_path / "x" / "n.png", timeout=5)
    folder = examples_cache_dir(tmp_path)
    assert not folder.exists() or not any(folder.iterdir())
    assert not (tmp_path / "x").exists()


def test_offline_makes_no_request(tmp_path, online, monkeypatch):
    with _photo_server() as server:
        got = fetch_deepfashion_photos(tmp_path, local_files_only=True, base_url=server.url("data"))
        assert {f.status for f in got.values()} == {"offline"} and len(server.requests) == 0
        monkeypatch.setenv(EXAMPLES_BASE_URL_ENV, server.url("data"))  # the override, read when base_url is None
        monkeypatch.setenv("MCLD_OFFLINE", "yes")
        got = fetch_deepfashion_photos(tmp_path)
        assert {f.status for f in got.values()} == {"offline"} and len(server.requests) == 0
        assert all(f.url.startswith(server.url("data")) for f in got.values())
        monkeypatch.delenv("MCLD_OFFLINE")
        got = fetch_deepfashion_photos(tmp_path, timeout=5)
        assert {n for n, f in got.items() if f.ok} == HAVE and len(server.requests) == 3
        # Offline again: the cached ones are still used, still without a request.
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        got = fetch_deepfashion_photos(tmp_path)
        assert {n for n, f in got.items() if f.status == "cached"} == HAVE and len(server.requests) == 3
    with pytest.raises(ValueError, match="unknown example photo"):
        fetch_deepfashion_photos(tmp_path, names=("cameraman",))


def test_an_unreachable_server_is_tried_once(tmp_path):
    with _photo_server() as server:
        gone = server.url("data")
    got = fetch_deepfashion_photos(tmp_path, local_files_only=False, base_url=gone, timeout=2)
    statuses = [f.status for f in got.values()]
    assert statuses == ["unreachable", "skipped", "skipped"]
    assert "refused" in got["blouse_front"].detail.lower()


def test_example_rows_are_deepfashion_pairs_with_one_person_each(online, monkeypatch):
    from mcld.annotators.mediapipe_pose import COCO18_NAMES, FEET_OUT_OF_FRAME_NOTE, MediaPipePoseDetector
    from mcld.demo import example_rows

    with _photo_server() as server:
        monkeypatch.setenv(EXAMPLES_BASE_URL_ENV, server.url("data"))
        rows, message = example_rows()
        assert len(server.requests) == 3
    cache = examples_cache_dir(online)
    blouse, skirt = (str(cache / DEEPFASHION_PHOTOS[n].filename) for n in ("blouse_front", "skirt_front"))
    assert rows == [[blouse, skirt]]  # the only pair whose two photos were served
    assert message.startswith("1 of 3 DeepFashion example photos (dress_back) could not be fetched from 127.0.0.1")
    assert "404" in message and "\n" not in message

    detector = MediaPipePoseDetector.from_pretrained()
    try:
        for path in {p for row in rows for p in row}:
            photo = np.asarray(Image.open(path).convert("RGB"))
            assert photo.shape == (512, 348, 3)
            people = detector.detect(photo)
            assert len(people) == 1, path
            person = people[0]
            visible = {n for n, v in zip(COCO18_NAMES, person.visible) if v}
            assert {"nose", "neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip"} <= visible, path
            assert person.has_face, path
            # DeepFashion framing: the person fills the frame's height (head at the top,
            # the body running out at the bottom); the feet are out of frame, and say so.
            x0, y0, x1, y1 = person.box
            assert y0 <= 0.02 * 512 and y1 >= 0.98 * 512, (path, person.box)
            assert FEET_OUT_OF_FRAME_NOTE in person.notes, path
    finally:
        detector.close()


def test_example_rows_offline_fall_back_to_scikit_image(online, monkeypatch):
    from mcld.demo import example_rows

    with _photo_server() as server:
        monkeypatch.setenv(EXAMPLES_BASE_URL_ENV, server.url("data"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        rows, message = example_rows()
        assert len(server.requests) == 0
    assert rows == fallback_example_rows()
    assert [Path(p).name for p in rows[0]] == ["cameraman.png", "astronaut.png"]
    assert all(Path(p).is_file() for row in rows for p in row)
    assert message == (
        f"The DeepFashion example photos could not be fetched from {server.url('data')[len('http://'):]} "
        "(downloads are off: HF_HUB_OFFLINE or MCLD_OFFLINE is set); "
        "the examples are scikit-image sample photos instead."
    )
