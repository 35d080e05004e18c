"""People on cut photos: one body cut by the frame is one person (real MediaPipe).

A photo cut by the frame (the head above the top edge, the legs below the
bottom edge) shows one body but gives MediaPipe less to go on. The
detector runs Pose on several proposals (whole photo, silhouette pieces,
below each face); on a body whose face is out of frame, one proposal can
read a front view as a back view, so the same body comes back with left and
right exchanged. Duplicates must then still be recognised as one person.

Cases, all cut from the shared photos (``shared/images/test.jpg``, 420x560;
the DeepFashion skirt photo of ``shared/golden/texture_pws``, 348x512):

* ``test.jpg`` keeping rows ``[0, 0.55 H)`` (cut below the waist);
* the skirt photo keeping rows ``[0.2 H, H)`` (head above the frame), whole
  width and the left 80 %: before the left/right-swapped comparison in
  :func:`mcld.annotators.mediapipe_pose.detect._same_person` these gave two
  people (a front-view and a back-view skeleton of one body).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mcld.annotators.mediapipe_pose import (
    COCO18_FLIP_PAIRS,
    FEET_OUT_OF_FRAME_NOTE,
    NO_FACE_NOTE,
)
from mcld.annotators.mediapipe_pose.detect import _same_person
from mcld.errors import NoPersonError

pytest.importorskip("mediapipe")

SKIRT_PHOTO = "fashionWOMENSkirtsid0000177102_1front_photo.png"


@pytest.fixture(scope="module")
def dress(images_dir) -> np.ndarray:
    return np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))


@pytest.fixture(scope="module")
def skirt(shared_dir) -> np.ndarray:
    return np.asarray(Image.open(shared_dir / "golden" / "texture_pws" / SKIRT_PHOTO).convert("RGB"))


@pytest.fixture(scope="module")
def skirt_whole(detector, skirt):
    (person,) = detector.detect(skirt)
    return person


def _rows(photo: np.ndarray, top: float, bottom: float, right: float = 1.0) -> np.ndarray:
    h, w = photo.shape[:2]
    return np.ascontiguousarray(photo[int(h * top) : int(h * bottom), : int(w * right)])


def test_dress_cut_below_the_waist_is_one_person(detector, dress):
    (whole,) = detector.detect(dress)
    cut = _rows(dress, 0.0, 0.55)  # 420 x 308
    found = detector.detect(cut)
    assert len(found) == 1, f"one body, {len(found)} people: boxes {[p.box.round(1).tolist() for p in found]}"
    (person,) = found
    assert FEET_OUT_OF_FRAME_NOTE in person.notes and NO_FACE_NOTE not in person.notes
    x0, y0, x1, y1 = person.box
    assert y0 < 10 and y1 == cut.shape[0]  # head at the top, body down to the cut
    assert whole.box[0] - 2 <= x0 < x1 <= whole.box[2] + 2  # inside the whole photo's body
    nose = person.keypoints_px[0]
    fx0, fy0, fx1, fy1 = person.face_box
    assert fx0 <= nose[0] <= fx1 and fy0 <= nose[1] <= fy1


@pytest.mark.parametrize("right", [1.0, 0.8], ids=["whole_width", "left_80"])
def test_skirt_with_head_cut_is_one_front_view_person(detector, skirt, skirt_whole, right):
    cut = _rows(skirt, 0.2, 1.0, right)  # head above the frame, feet below it
    found = detector.detect(cut)
    assert len(found) == 1, f"one body, {len(found)} people: boxes {[p.box.round(1).tolist() for p in found]}"
    (person,) = found
    assert NO_FACE_NOTE in person.notes and FEET_OUT_OF_FRAME_NOTE in person.notes
    x0, y0, x1, y1 = person.box
    assert y0 == 0 and y1 == cut.shape[0]
    # The body's left and right as in the whole photo (a front view): the
    # box is the whole body's, and the right shoulder is on the image's left.
    assert abs(x0 - skirt_whole.box[0]) < 4 and abs(x1 - min(skirt_whole.box[2], cut.shape[1])) < 4
    r_shoulder, l_shoulder = person.keypoints_px[2], person.keypoints_px[5]
    assert person.visible[[2, 5]].all() and r_shoulder[0] + 50 < l_shoulder[0]


def test_left_right_swapped_skeleton_is_the_same_person(skirt_whole):
    swapped = skirt_whole.copy()
    order = np.arange(18)
    for a, b in COCO18_FLIP_PAIRS:
        order[[a, b]] = order[[b, a]]
    swapped.keypoints = skirt_whole.keypoints[order]
    swapped.visibility = skirt_whole.visibility[order]
    assert not np.allclose(swapped.keypoints_px[[2, 5]], skirt_whole.keypoints_px[[2, 5]], atol=20)
    assert _same_person(skirt_whole, swapped) and _same_person(swapped, skirt_whole)


def test_mirror_twins_side_by_side_stay_two_people(detector, dress):
    # A person beside her own mirror image: the swapped comparison must not
    # merge two bodies in different places.
    twins = np.ascontiguousarray(np.concatenate([dress, dress[:, ::-1]], axis=1))  # 840 x 560
    found = detector.detect(twins)
    assert len(found) == 2, f"two bodies, {len(found)} people: boxes {[p.box.round(1).tolist() for p in found]}"
    left, right = found
    assert left.box[2] <= 420 + 4 and right.box[0] >= 420 - 4
    assert not _same_person(left, right) and not _same_person(right, left)


def test_a_strip_without_a_body_has_no_person(detector, dress):
    strip = _rows(dress, 0.0, 0.1)  # 420 x 56: hair only
    with pytest.raises(NoPersonError, match="No person was found in this photo"):
        detector.detect(strip)
