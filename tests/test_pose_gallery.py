"""The pose gallery (mcld.gallery): real DensePose IUV entries used as they are,
photo entries given their DensePose IUV once and cached, skeleton entries as the
labelled fallback, one name for page and API, and mirrors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mcld.gallery import (
    APPROXIMATE_IUV_NOTE,
    DENSEPOSE_POSES_DIR,
    GALLERY_DIR,
    REAL_IUV_NOTE,
    SKELETON_IUV_NOTE,
    GalleryPoseError,
    find_gallery_pose,
    gallery_caption,
    gallery_target,
    gallery_thumbnail,
    load_gallery,
    load_gallery_pose,
    precompute_gallery_iuvs,
    render_iuv_from_pose,
    save_gallery_pose,
)
from mcld.pose_transfer import CROP_SIZE


@pytest.fixture(scope="module")
def gallery():
    return load_gallery()


@pytest.fixture(scope="module")
def by_name(gallery):
    return {p.name: p for p in gallery}


@pytest.fixture(scope="module")
def shared_iuvs(shared_dir) -> list[Path]:
    paths = sorted((shared_dir / "poses").glob("*_iuv.png"))
    assert paths
    return paths


# ------------------------------------------------------------ real DensePose
def test_every_shared_real_iuv_is_a_gallery_entry_used_as_it_is(gallery, shared_iuvs):
    import cv2

    real = [p for p in gallery if p.kind == "densepose"]
    assert len(real) == len(shared_iuvs)
    by_file = {json.loads((DENSEPOSE_POSES_DIR / f"{p.name}.json").read_text())["iuv"]: p for p in real}
    for path in shared_iuvs:
        pose = by_file[path.name]
        # The shipped copy is byte-identical to the shared data.
        assert (DENSEPOSE_POSES_DIR / path.name).read_bytes() == path.read_bytes()
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # (I, U, V), per ../shared/poses/README.md
        h, w = raw.shape[:2]
        assert pose.iuv.shape == (CROP_SIZE[1], CROP_SIZE[0], 3) and pose.iuv.dtype == np.uint8
        # Same height: the frame is padded (never rescaled or re-cropped), centred.
        assert h == CROP_SIZE[1]
        pad = (CROP_SIZE[0] - w) // 2
        np.testing.assert_array_equal(pose.iuv[:, pad : pad + w], raw)
        assert not pose.iuv[:, :pad].any() and not pose.iuv[:, pad + w :].any()
        assert pose.real_iuv and pose.iuv_note == REAL_IUV_NOTE and REAL_IUV_NOTE in gallery_caption(pose)
        target = gallery_target(pose)
        np.testing.assert_array_equal(target.iuv, pose.iuv)
        assert REAL_IUV_NOTE in target.warnings[0] and "pose-only" not in " ".join(target.warnings)


def test_real_poses_come_first_and_keep_their_licence(gallery):
    kinds = [p.kind for p in gallery]
    assert kinds[: kinds.count("densepose")] == ["densepose"] * kinds.count("densepose")
    notice = (DENSEPOSE_POSES_DIR / "LICENSE-pose-with-style.txt").read_text()
    assert "MIT License" in notice and "Badour AlBahar" in notice
    readme = (DENSEPOSE_POSES_DIR / "README.md").read_text()
    assert "f344f3bcad621cb2faf8b2cb83a1c38975871072" in readme
    for pose in gallery:
        if pose.kind == "densepose":
            png = DENSEPOSE_POSES_DIR / json.loads((DENSEPOSE_POSES_DIR / f"{pose.name}.json").read_text())["iuv"]
            assert pose.name in readme and png.name in readme
            assert hashlib.sha256(png.read_bytes()).hexdigest() in readme
            assert "MIT" in pose.licence and "pose-with-style" in pose.source


def test_mirror_of_a_real_pose_uses_densepose_table_when_given(by_name, tmp_path):
    from mcld.annotators.densepose.iuv import load_uv_symmetry, mirror_iuv

    # A synthetic table in detectron2's layout (U and V swapped), from a local path.
    v, u = np.mgrid[0:256, 0:256]
    cells = {k: np.empty((1, 24), dtype=object) for k in ("U_transforms", "V_transforms")}
    for i in range(24):
        cells["U_transforms"][0, i] = (v + 0.5) / 256.0
        cells["V_transforms"][0, i] = (u + 0.5) / 256.0
    mat = tmp_path / "UV_symmetry_transforms.mat"
    scipy.io.savemat(str(mat), cells)
    table = load_uv_symmetry(mat)
    pose = by_name["deepfashion_stepping"]
    exact = gallery_target(pose, mirror=True, uv_symmetry=table)
    np.testing.assert_array_equal(exact.iuv, mirror_iuv(pose.iuv, table))
    assert exact.mirrored and not any("approximate" in w for w in exact.warnings)
    approx = gallery_target(pose, mirror=True, uv_symmetry=None)
    np.testing.assert_array_equal(approx.iuv, mirror_iuv(pose.iuv))
    assert any("approximate" in w for w in approx.warnings)
    np.testing.assert_array_equal(approx.iuv[..., 0] > 0, pose.iuv[:, ::-1, 0] > 0)


def test_mirror_offline_with_an_empty_cache_is_labelled_approximate(by_name, tmp_path, monkeypatch):
    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))
    target = gallery_target(by_name["deepfashion_standing"], mirror=True)  # "cached": disk only
    assert any("approximate" in w for w in target.warnings)
    assert not any(tmp_path.iterdir())  # nothing fetched or written


def test_real_pose_aligns_to_the_source_by_its_body_box(by_name):
    from mcld.annotators.mediapipe_pose import PersonPose

    source_box = np.array([120.0, 100.0, 230.0, 350.0], np.float32)  # a smaller person, lower
    source = PersonPose(np.zeros((18, 2), np.float32), np.zeros(18, np.float32), source_box, 1.0, CROP_SIZE)

    class Source:  # anything with a crop-frame ``pose``
        pose = source

    target = gallery_target(by_name["deepfashion_standing"], align_to=Source())
    ys, xs = np.nonzero(target.iuv[..., 0])
    body_h = ys.max() + 1 - ys.min()
    assert abs(body_h - (source_box[3] - source_box[1])) <= 2
    assert abs((ys.max() + 1 + ys.min()) / 2 - (source_box[1] + source_box[3]) / 2) <= 2
    assert target.aligned


def test_thumbnails_show_what_each_entry_is(by_name):
    from mcld.annotators.densepose.iuv import iuv_to_display

    real = gallery_thumbnail(by_name["deepfashion_standing"], 512)
    assert real.shape == (512, 352, 3)
    np.testing.assert_array_equal(real, iuv_to_display(by_name["deepfashion_standing"].iuv))
    drawn = gallery_thumbnail(by_name["t_pose"], 256)
    assert drawn.shape == (256, 176, 3) and drawn.dtype == np.uint8


# ------------------------------------------------------------------- names
def test_one_name_for_page_and_api(gallery):
    assert find_gallery_pose(gallery, "T-pose").name == "t_pose"
    assert find_gallery_pose(gallery, "t_pose").name == "t_pose"
    assert find_gallery_pose(gallery, "  t pose ").name == "t_pose"
    for pose in gallery:  # every label and every API name finds its own entry
        assert find_gallery_pose(gallery, pose.label) is pose
        assert find_gallery_pose(gallery, pose.name.upper()) is pose


def test_unknown_name_lists_the_valid_ones(gallery):
    with pytest.raises(GalleryPoseError, match="Unknown gallery pose 'Tpose please'. Valid names: deepfashion_standing") as err:
        find_gallery_pose(gallery, "Tpose please")
    message = err.value.user_message
    assert "Tpose please" in message
    for pose in gallery:
        assert pose.name in message and pose.label in message
    with pytest.raises(GalleryPoseError, match="No gallery pose was chosen"):
        find_gallery_pose(gallery, "")


def test_colliding_names_are_rejected(tmp_path):
    pose = load_gallery_pose(GALLERY_DIR / "t_pose.json")
    save_gallery_pose(pose, tmp_path / "t_pose.json", label="T-pose")
    save_gallery_pose(pose, tmp_path / "other.json", label="T pose")
    with pytest.raises(ValueError, match="share the name or label"):
        load_gallery(tmp_path)


# -------------------------------------------------------------- skeletons
def test_every_skeleton_pose_renders_a_labelled_body_in_the_crop_frame(gallery):
    skeletons = [p for p in gallery if p.kind == "skeleton"]
    assert len(skeletons) >= 6
    for pose in skeletons:
        assert not pose.real_iuv and pose.iuv_note == SKELETON_IUV_NOTE
        assert SKELETON_IUV_NOTE in gallery_caption(pose)
        target = gallery_target(pose)
        assert target.iuv.shape == (CROP_SIZE[1], CROP_SIZE[0], 3) and target.iuv.dtype == np.uint8
        parts = set(np.unique(target.iuv[..., 0])) - {0}
        assert parts <= set(range(1, 25))
        assert len(parts) >= 8, f"{pose.name}: only parts {sorted(parts)}"
        assert APPROXIMATE_IUV_NOTE in target.warnings[0] and "pose-only" in target.warnings[0]


def test_front_and_back_use_the_matching_densepose_ids(by_name):
    front = set(np.unique(gallery_target(by_name["standing_front"]).iuv[..., 0]))
    back = set(np.unique(gallery_target(by_name["standing_back"]).iuv[..., 0]))
    assert {2, 3, 4, 5, 6, 23, 24} <= front and 1 not in front  # torso front, hands, feet, head
    assert 1 in back and 2 not in back


def test_uv_run_along_a_limb(by_name):
    iuv = gallery_target(by_name["standing_front"]).iuv
    # Right lower leg (front id 13): U grows from knee (top) to ankle (bottom).
    ys, xs = np.nonzero(iuv[..., 0] == 13)
    u = iuv[ys, xs, 1].astype(float)
    assert np.corrcoef(ys, u)[0, 1] > 0.9


def test_skeleton_mirror_matches_mirroring_the_iuv_image(by_name):
    from mcld.annotators.densepose.iuv import mirror_iuv

    pose = by_name["walking"]  # asymmetric arms and legs
    plain, mirrored = gallery_target(pose), gallery_target(pose, mirror=True)
    assert mirrored.mirrored and not plain.mirrored
    assert not np.array_equal(plain.iuv[..., 0], mirrored.iuv[..., 0])
    # Drawing the mirrored skeleton ~= flipping the drawn IUV with DensePose's left/right part swap.
    flipped = mirror_iuv(plain.iuv)[..., 0]
    body = (flipped > 0) | (mirrored.iuv[..., 0] > 0)
    agree = (flipped == mirrored.iuv[..., 0])[body].mean()
    assert agree > 0.9, agree


def test_bad_pose_files_are_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"keypoints": [[0.5, 0.5]], "image_size": [10, 10]}')
    with pytest.raises(ValueError, match="18"):
        load_gallery_pose(bad)
    bad.write_text('{"kind": "densepose", "iuv": "missing.png"}')
    with pytest.raises(ValueError, match="missing.png"):
        load_gallery_pose(bad)
    bad.write_text('{"kind": "hologram"}')
    with pytest.raises(ValueError, match="kind"):
        load_gallery_pose(bad)


def test_pose_without_torso_cannot_be_drawn():
    pose = load_gallery_pose(GALLERY_DIR / "t_pose.json")
    pose.visibility[[1, 8, 11]] = 0.0
    with pytest.raises(ValueError, match="neck"):
        render_iuv_from_pose(pose)


# ------------------------------------------------------------ photo entries
@pytest.fixture(scope="module")
def photo_gallery(tmp_path_factory, images_dir):
    """A gallery with one photo entry (a shared test photo, copied to a temp folder)."""
    from mcld.annotators.mediapipe_pose import detect_people
    from mcld.image_utils import load_image

    folder = tmp_path_factory.mktemp("photo_gallery")
    photo = folder / "person.png"
    shutil.copy(images_dir / "reference_img_0.png", photo)
    people = detect_people(np.asarray(load_image(str(photo))))
    person = max(people, key=lambda p: float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
    save_gallery_pose(person, folder / "from_photo.json", label="From a photo", kind="photo", photo=photo.name)
    gallery = load_gallery(folder)
    assert [p.kind for p in gallery] == ["photo"]
    return gallery


@pytest.fixture(scope="module")
def densepose_pt():
    """A full-mode PoseTransfer whose DensePose is a tiny model built here (no
    weights can be fetched in tests); the gallery code path is the real one."""
    from mcld.annotators.densepose import DensePosePredictor
    from mcld.pose_transfer import PoseTransfer

    return PoseTransfer(None, DensePosePredictor.tiny(seed=3), use_detector=False, tiny=False)


def test_photo_entries_get_their_densepose_iuv_once_then_from_the_cache(photo_gallery, densepose_pt, tmp_path):
    out = precompute_gallery_iuvs(photo_gallery, densepose_pt, tmp_path, fetch_mirror_table=False)
    assert photo_gallery[0].iuv is None  # the input is not changed
    pose = out[0]
    assert pose.real_iuv and pose.iuv.shape == (CROP_SIZE[1], CROP_SIZE[0], 3) and pose.iuv_model
    # The IUV is what DensePose gives on the located crop, as for a target photo.
    person = densepose_pt.locate_person(pose.photo, what="target")
    np.testing.assert_array_equal(pose.iuv, densepose_pt.compute_iuv(person.crop, person.pose.box))
    files = sorted(tmp_path.iterdir())
    photo_hash = hashlib.sha256(Path(pose.photo).read_bytes()).hexdigest()[:16]
    assert [f.suffix for f in files] == [".json", ".png"]
    assert all(photo_hash in f.name and pose.iuv_model in f.name for f in files)
    stamps = [f.stat().st_mtime_ns for f in files]
    again = precompute_gallery_iuvs(photo_gallery, densepose_pt, tmp_path, fetch_mirror_table=False)[0]
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.iterdir())] == stamps  # read, not recomputed
    np.testing.assert_array_equal(again.iuv, pose.iuv)
    np.testing.assert_allclose(again.iuv_pose.box, pose.iuv_pose.box)
    target = gallery_target(again)
    assert REAL_IUV_NOTE in target.warnings[0]
    np.testing.assert_array_equal(target.iuv, pose.iuv)


def test_photo_entries_fall_back_to_their_skeleton_labelled(photo_gallery, tmp_path):
    from mcld.annotators.densepose import DensePosePredictor
    from mcld.pose_transfer import PoseTransfer

    tiny = PoseTransfer(None, DensePosePredictor.tiny(), use_detector=False, tiny=True)
    for pt, why in ((tiny, "tiny mode"), (None, "no DensePose model")):
        pose = precompute_gallery_iuvs(photo_gallery, pt, tmp_path, fetch_mirror_table=False)[0]
        assert not pose.real_iuv and why in pose.notes[0]
        target = gallery_target(pose)
        assert "pose-only" in target.warnings[0] and why in " ".join(target.warnings)
    assert not any(tmp_path.iterdir())


def test_precompute_offline_leaves_the_gallery_and_says_the_mirror_is_approximate(gallery, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MCLD_CACHE", str(tmp_path))
    with caplog.at_level("WARNING", logger="mcld.gallery.precompute"):
        out = precompute_gallery_iuvs(gallery, None)
    assert len(out) == len(gallery) and all(a is b for a, b in zip(out, gallery))  # no photo entry ships
    assert "approximate" in caplog.text and "UV_symmetry_transforms.mat" in caplog.text
    assert not any(tmp_path.iterdir())
