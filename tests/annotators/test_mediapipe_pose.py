"""MediaPipe multi-person pose on the shared photos (real MediaPipe graphs)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mcld.annotators.mediapipe_pose import (
    BLAZEPOSE_TO_COCO18,
    NO_FACE_NOTE,
    align_pose,
    blazepose_to_coco18,
    detect_people,
    draw_openpose,
    draw_pose_overlay,
    mirror_pose,
    pick_person,
    torso_anchor,
)
from mcld.errors import NoPersonError
from mcld.person_crop import warp_image

pytest.importorskip("mediapipe")


def _photo(images_dir, i: int) -> np.ndarray:
    return np.asarray(Image.open(images_dir / f"reference_img_{i}.png").convert("RGB"))


@pytest.fixture(scope="module")
def people(detector, images_dir):
    return {i: detector.detect_people(_photo(images_dir, i)) for i in (0, 1, 2, 4)}


def test_blazepose_to_coco18_mapping():
    lm = np.zeros((33, 3), np.float32)
    lm[:, 0] = np.arange(33)
    lm[:, 2] = 0.9
    lm[11, 2] = 0.4
    kps, vis = blazepose_to_coco18(lm)
    assert kps.shape == (18, 2) and vis.shape == (18,)
    for coco, blaze in enumerate(BLAZEPOSE_TO_COCO18):
        if blaze >= 0:
            assert kps[coco, 0] == blaze
    assert kps[1, 0] == pytest.approx((11 + 12) / 2)  # neck = mid-shoulders
    assert vis[1] == pytest.approx(0.4)
    assert (kps[2, 0], kps[5, 0]) == (12, 11)  # right shoulder is BlazePose 12


@pytest.mark.parametrize("index", [0, 1])
def test_single_person_keypoints_lie_on_the_person(detector, people, images_dir, index):
    import cv2

    photo = _photo(images_dir, index)
    found = people[index]
    assert len(found) == 1
    pose = found[0]
    assert pose.keypoints.shape == (18, 2) and pose.keypoints.dtype == np.float32
    assert pose.visibility.shape == (18,)
    assert pose.image_size == (256, 256)
    assert pose.visible.sum() >= 10
    person = detector.segment(photo) > 0.5
    near = cv2.dilate(person.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    px = pose.keypoints_px[pose.visible].astype(int)
    # Most visible keypoints on the (slightly dilated) segmentation mask; all
    # inside the mask's bounding box grown by 5 % of the image. (MediaPipe
    # misplaces a hip on reference_img_1, a man bending over.)
    assert near[px[:, 1], px[:, 0]].mean() >= 0.85
    ys, xs = np.nonzero(person)
    assert (px[:, 0] >= xs.min() - 13).all() and (px[:, 0] <= xs.max() + 13).all()
    assert (px[:, 1] >= ys.min() - 13).all() and (px[:, 1] <= ys.max() + 13).all()
    # Upright photo: nose above neck above the hip centre.
    k = pose.keypoints_px
    assert k[0, 1] < k[1, 1] < (k[8, 1] + k[11, 1]) / 2
    x0, y0, x1, y1 = pose.box
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256


def test_skeleton_drawing(people, images_dir):
    pose = people[0][0]
    skeleton = draw_openpose((256, 256), pose)
    assert skeleton.shape == (256, 256, 3) and skeleton.dtype == np.uint8
    assert (skeleton.sum(axis=2) > 0).mean() > 0.01
    # Drawn where the keypoints are, nowhere near the far left edge.
    assert skeleton[:, :20].max() == 0 or pose.keypoints_px[:, 0].min() < 30
    neck = pose.keypoints_px[1].astype(int)
    assert skeleton[neck[1] - 3 : neck[1] + 4, neck[0] - 3 : neck[0] + 4].max() > 0
    overlay = draw_pose_overlay(_photo(images_dir, 0), people[0])
    assert overlay.shape == (256, 256, 3)


def test_mirror_twice_is_identity(people):
    pose = people[2][0]
    once = mirror_pose(pose)
    np.testing.assert_allclose(once.keypoints[2, 0], 1.0 - pose.keypoints[5, 0], atol=1e-6)
    np.testing.assert_allclose(once.keypoints[2, 1], pose.keypoints[5, 1], atol=1e-6)
    twice = mirror_pose(once)
    np.testing.assert_allclose(twice.keypoints, pose.keypoints, atol=1e-6)
    np.testing.assert_array_equal(twice.visibility, pose.visibility)
    np.testing.assert_allclose(twice.box, pose.box, atol=1e-4)


def test_align_maps_target_torso_onto_source(people):
    target, source = people[0][0], people[4][0]
    aligned, affine = align_pose(target, source)
    assert affine.shape == (2, 3)
    assert aligned.image_size == source.image_size
    (ca, la), (cs, ls) = torso_anchor(aligned), torso_anchor(source)
    assert np.linalg.norm(ca - cs) < 2.0
    assert abs(la - ls) < 2.0
    # The same affine moves an image of the target frame (e.g. its IUV).
    label = np.zeros((256, 256), np.uint8)
    nx, ny = target.keypoints_px[1].astype(int)
    label[ny - 1 : ny + 2, nx - 1 : nx + 2] = 7
    moved = warp_image(label, affine, source.image_size, nearest=True)
    ys, xs = np.nonzero(moved == 7)
    assert len(xs) > 0
    assert np.hypot(xs.mean() + 0.5 - aligned.keypoints_px[1, 0], ys.mean() + 0.5 - aligned.keypoints_px[1, 1]) < 2.5


def test_two_people_side_by_side_and_click(detector, images_dir):
    both = np.concatenate([_photo(images_dir, 2), _photo(images_dir, 4)], axis=1)
    found = detect_people(both, detector=detector)
    assert len(found) == 2
    centres = [float(p.box[0] + p.box[2]) / 2 for p in found]
    assert centres[0] < 256 < centres[1]  # sorted left to right
    for i, pose in enumerate(found):
        neck = pose.keypoints_px[1]
        assert pick_person(found, float(neck[0]), float(neck[1])) == i
    assert pick_person(found, 5.0, 128.0) == 0
    assert pick_person(found, 507.0, 128.0) == 1
    overlay = draw_pose_overlay(both, found, selected=1)
    assert overlay.shape == both.shape


def test_no_person_raises(detector):
    plain = np.full((256, 256, 3), (40, 120, 200), np.uint8)
    with pytest.raises(NoPersonError, match="No person was found in this photo") as info:
        detector.detect_people(plain)
    assert "person" in info.value.user_message
    with pytest.raises(NoPersonError, match="so there is nobody to pick"):
        pick_person([], 1.0, 1.0)


def test_annotator_contract(detector, images_dir):
    photo = Image.open(images_dir / "test.jpg").convert("RGB")  # 420x560
    skeleton = detector(photo, detect_resolution=256, image_resolution=384, output_type="np")
    assert skeleton.shape == (512, 384, 3) and skeleton.dtype == np.uint8
    assert (skeleton.sum(axis=2) > 0).mean() > 0.005
    assert detector(photo, detect_resolution=256, image_resolution=256).size == (256, 341)


def test_face_finder_needs_a_seen_face(detector, images_dir):
    # reference_img_3 is a back view: the full-range detector takes the back of
    # the head for a face, the face mesh does not confirm it.
    back = _photo(images_dir, 3)
    assert detector.detect_faces(back) and not detector.find_faces(back)
    (person,) = detector.detect_people(back)
    assert person.face_box is None and not person.visible[[0, 14, 15, 16, 17]].any()
    assert NO_FACE_NOTE in person.notes
    for i in (0, 2, 4, 5):  # front views: a face, on the person's nose
        (person,) = detector.detect_people(_photo(images_dir, i))
        x0, y0, x1, y1 = person.face_box
        nx, ny = person.keypoints_px[0]
        assert x0 <= nx <= x1 and y0 <= ny <= y1
        assert NO_FACE_NOTE not in person.notes


def test_mirror_and_transform_carry_face_box_and_landmarks(people):
    pose = people[0][0]
    assert pose.blazepose.shape == (33, 3) and pose.face_box is not None
    twice = mirror_pose(mirror_pose(pose))
    np.testing.assert_allclose(twice.face_box, pose.face_box, atol=1e-4)
    np.testing.assert_allclose(twice.blazepose, pose.blazepose, atol=1e-6)
    once = mirror_pose(pose)
    assert once.face_box[0] == pytest.approx(pose.image_size[0] - pose.face_box[2], abs=1e-4)
    np.testing.assert_allclose(once.blazepose[11, :2], [1 - pose.blazepose[12, 0], pose.blazepose[12, 1]], atol=1e-6)
    from mcld.annotators.mediapipe_pose import transform_pose

    affine = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, -5.0]])
    moved = transform_pose(pose, affine, (600, 700))
    np.testing.assert_allclose(moved.face_box, pose.face_box * 2 + [10, -5, 10, -5], atol=1e-3)
    np.testing.assert_allclose(moved.blazepose[:, :2] * [600, 700], pose.blazepose[:, :2] * pose.image_size * 2 + [10, -5], atol=1e-3)
    assert moved.notes == pose.notes and moved.notes is not pose.notes
