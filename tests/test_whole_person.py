"""Whole-person crops framed as DeepFashion frames them, and one truth per photo
(issue 14, items 3 and 4), on the shared photos with the real MediaPipe graphs.

Cases built from ``shared/images/test.jpg`` (a standing woman in a knee-length
dress, feet in frame), every measure taken from detection on the original:

* long skirt: a flat polygon in one colour painted from above the hips down
  to below the ankles (the floor), covering legs and feet, so MediaPipe no
  longer sees the lower legs;
* head cut: the rows above the bottom of the face box removed.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from mcld.annotators.human_parsing import HumanParser, parse_person
from mcld.annotators.mediapipe_pose import (
    FACE_KEYPOINTS,
    FEET_OUT_OF_FRAME_NOTE,
    NO_FACE_NOTE,
    draw_openpose,
)
from mcld.annotators.face.embedding import detect_face_box_mediapipe
from mcld.person_crop import DEEPFASHION_BODY_BOTTOM, DEEPFASHION_BODY_TOP, body_span, crop_label_image
from mcld.pose_transfer import PoseTransfer
from tests.long_skirt import paint_long_skirt, skirt_rows

pytest.importorskip("mediapipe")

DEEPFASHION_PHOTOS = ("fashionWOMENBlouses_Shirtsid0000635004_1front", "fashionWOMENSkirtsid0000177102_1front")


@pytest.fixture(scope="module")
def locator(detector):
    """MediaPipe and the crop only (no model weights)."""
    return PoseTransfer(None, None, pose_detector=detector)


@pytest.fixture(scope="module")
def dress(images_dir, detector):
    photo = np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))
    (person,) = detector.detect_people(photo)
    return photo, person


@pytest.fixture(scope="module")
def skirt(dress):
    """The dress photo with a flat long skirt from the waist to the floor."""
    return paint_long_skirt(*dress)


@pytest.fixture(scope="module")
def head_cut(dress):
    photo, person = dress
    assert person.face_box is not None
    cut = int(np.ceil(person.face_box[3]))  # below the chin line of the face box
    return np.ascontiguousarray(photo[cut:])


def test_framing_constants_are_those_of_the_deepfashion_iuvs(shared_dir):
    spans = []
    for path in sorted((shared_dir / "poses").glob("*_iuv.png")):
        iuv = cv2.imread(str(path))  # channel 0 = DensePose part index I
        spans.append(body_span(iuv[..., 0]))
    assert len(spans) == 3
    tops, bottoms = np.array(spans).T
    assert DEEPFASHION_BODY_TOP == pytest.approx(tops.mean(), abs=1e-3)
    assert DEEPFASHION_BODY_BOTTOM == pytest.approx(bottoms.mean(), abs=1e-3)
    assert tops.min() <= DEEPFASHION_BODY_TOP <= tops.max()
    assert bottoms.min() <= DEEPFASHION_BODY_BOTTOM <= bottoms.max()


def test_skirt_hides_the_legs_and_the_crop_keeps_the_hem(skirt, detector, locator):
    painted, floor = skirt
    h = painted.shape[0]
    (person,) = detector.detect_people(painted)
    # The case is real: MediaPipe no longer sees the lower legs ...
    assert person.visibility[[10, 13]].max() < 0.5
    legs_y = person.keypoints_px[[9, 10, 12, 13], 1]
    assert legs_y.max() < floor - 0.1 * h  # ... and its guess for them ends well above the hem.
    # The box reaches the hem, the crop shows it at DeepFashion's bottom line.
    assert person.box[3] >= floor - 0.01 * h
    crop = locator.locate_person(painted)
    info = crop.crop_info
    hem_in_crop = (floor - info.y0) * info.scale
    assert info.out_size[1] * 0.97 <= hem_in_crop <= info.out_size[1]
    assert skirt_rows(crop.crop).max() >= 0.96 * info.out_size[1]
    assert FEET_OUT_OF_FRAME_NOTE not in crop.notes and NO_FACE_NOTE not in crop.notes


def test_crops_frame_the_body_as_deepfashion(images_dir, dress, skirt, detector, locator):
    """Body span in the crop of the photo's person mask (MediaPipe), on photos
    whose feet are in frame: at DeepFashion's lines where the photo leaves
    room around the body, cut at the photo's edge where it does not."""
    full_body = np.asarray(Image.open(images_dir / "reference_img_4.png").convert("RGB"))  # room above and below
    crop = locator.locate_person(full_body)
    top, bottom = body_span(crop_label_image((detector.segment(full_body) > 0.5).astype(np.uint8), crop.crop_info))
    assert top == pytest.approx(DEEPFASHION_BODY_TOP, abs=0.005) and bottom == pytest.approx(DEEPFASHION_BODY_BOTTOM, abs=0.005)
    for photo in (dress[0], skirt[0]):  # their person masks touch the photo's top edge
        crop = locator.locate_person(photo)
        top, bottom = body_span(crop_label_image((detector.segment(photo) > 0.5).astype(np.uint8), crop.crop_info))
        assert top <= DEEPFASHION_BODY_TOP + 0.005
        assert DEEPFASHION_BODY_BOTTOM - 0.005 <= bottom <= 1.0


@pytest.mark.parametrize("name", DEEPFASHION_PHOTOS)
def test_feet_out_of_frame_keep_what_is_there_and_say_so(shared_dir, locator, name):
    photo = np.asarray(Image.open(shared_dir / "golden" / "texture_pws" / f"{name}_photo.png").convert("RGB"))
    crop = locator.locate_person(photo)
    assert FEET_OUT_OF_FRAME_NOTE in crop.notes
    assert FEET_OUT_OF_FRAME_NOTE in crop.people[crop.person_index].notes
    info = crop.crop_info
    # The window ends at the photo's bottom edge: nothing padded below a cut body.
    assert info.y0 + info.window_height == pytest.approx(photo.shape[0], abs=0.5)
    assert info.window_height == pytest.approx(photo.shape[0], rel=0.02)  # a DeepFashion photo is already framed


def test_feet_in_frame_have_no_note(dress, locator):
    crop = locator.locate_person(dress[0])
    assert crop.notes == [] and dress[1].has_face


def test_head_cut_photo_one_truth(head_cut, locator, detector):
    # Detection: one person, no face, face keypoints hidden in the photo and the crop.
    crop = locator.locate_person(head_cut)
    assert len(crop.people) == 1
    person = crop.people[0]
    assert person.face_box is None and not person.has_face
    assert NO_FACE_NOTE in person.notes and NO_FACE_NOTE in crop.notes
    assert not crop.pose.visible[list(FACE_KEYPOINTS)].any()
    # ... so no face point is drawn: the face keypoints alone draw nothing.
    face_vis = np.where(np.isin(np.arange(18), FACE_KEYPOINTS), crop.pose.visibility, 0.0).astype(np.float32)
    assert not draw_openpose((352, 512), crop.pose.copy(visibility=face_vis)).any()
    # The face finder agrees, on the photo and on the crop.
    assert detect_face_box_mediapipe(head_cut) is None and detect_face_box_mediapipe(crop.crop) is None
    # Parsing with detection's person decision finds the person, and no face.
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    try:
        parsing = parse_person(parser, crop.crop, crop.pose)
    finally:
        parser.backend.close()
    assert parsing.mask("upper_garment").sum() > 1000 and parsing.mask("face").sum() == 0
    # The face embedding takes detection's decision: zeros and the same note.
    embeds, status, face_crop, note = locator.face_embedding(crop)
    assert status == "no_face" and note == NO_FACE_NOTE and not embeds.any() and face_crop is None


def test_head_cut_edit_uses_the_same_decisions(head_cut, detector):
    from mcld.annotators.densepose import DensePosePredictor
    from mcld.editing import RegionSelection, compose_conditions, prepare_edit_sources

    pt = PoseTransfer(None, DensePosePredictor.tiny(seed=0), None, pose_detector=detector, use_detector=False)
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    try:
        (source,) = prepare_edit_sources(pt, [head_cut], parser)  # no NoPersonError from parsing
    finally:
        parser.backend.close()
    assert source.face_status == "no_face" and source.parsing.mask("face").sum() == 0
    assert NO_FACE_NOTE in source.conditions.warnings
    composed = compose_conditions([source], RegionSelection(base=0), fill="none")
    assert any(note.endswith(NO_FACE_NOTE) for note in composed.notes)
