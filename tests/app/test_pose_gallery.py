"""Gallery poses -> approximate IUV (mcld.pose_gallery) and the ZeroGPU duration."""

from __future__ import annotations

import numpy as np
import pytest

from mcld.pose_gallery import GALLERY_DIR, gallery_target, load_gallery, load_gallery_pose, render_iuv_from_pose
from mcld.pose_transfer import CROP_SIZE
from mcld.zerogpu import GPU_MAX_S, gpu_duration


@pytest.fixture(scope="module")
def gallery():
    poses = {p.name: p for p in load_gallery()}
    assert len(poses) >= 6
    return poses


def test_every_gallery_pose_renders_a_body_in_the_crop_frame(gallery):
    for pose in gallery.values():
        target = gallery_target(pose)
        assert target.iuv.shape == (CROP_SIZE[1], CROP_SIZE[0], 3) and target.iuv.dtype == np.uint8
        parts = set(np.unique(target.iuv[..., 0])) - {0}
        assert parts <= set(range(1, 25))
        assert len(parts) >= 8, f"{pose.name}: only parts {sorted(parts)}"
        assert "pose-only" in target.warnings[0]


def test_front_and_back_use_the_matching_densepose_ids(gallery):
    front = set(np.unique(gallery_target(gallery["standing_front"]).iuv[..., 0]))
    back = set(np.unique(gallery_target(gallery["standing_back"]).iuv[..., 0]))
    assert {2, 3, 4, 5, 6, 23, 24} <= front and 1 not in front  # torso front, hands, feet, head
    assert 1 in back and 2 not in back


def test_uv_run_along_a_limb(gallery):
    iuv = gallery_target(gallery["standing_front"]).iuv
    # Right lower leg (front id 13): U grows from knee (top) to ankle (bottom).
    ys, xs = np.nonzero(iuv[..., 0] == 13)
    u = iuv[ys, xs, 1].astype(float)
    assert np.corrcoef(ys, u)[0, 1] > 0.9


def test_mirror_matches_mirroring_the_iuv_image(gallery):
    from mcld.pose_transfer import mirror_iuv

    pose = gallery["walking"]  # asymmetric arms and legs
    plain, mirrored = gallery_target(pose), gallery_target(pose, mirror=True)
    assert mirrored.mirrored and not plain.mirrored
    assert not np.array_equal(plain.iuv[..., 0], mirrored.iuv[..., 0])
    # Drawing the mirrored skeleton ~= flipping the drawn IUV with DensePose's left/right part swap.
    flipped = mirror_iuv(plain.iuv)[..., 0]
    body = (flipped > 0) | (mirrored.iuv[..., 0] > 0)
    agree = (flipped == mirrored.iuv[..., 0])[body].mean()
    assert agree > 0.9, agree


def test_bad_pose_file_is_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"keypoints": [[0.5, 0.5]], "image_size": [10, 10]}')
    with pytest.raises(ValueError, match="18"):
        load_gallery_pose(bad)


def test_pose_without_torso_cannot_be_drawn():
    pose = load_gallery_pose(GALLERY_DIR / "t_pose.json")
    pose.visibility[[1, 8, 11]] = 0.0
    with pytest.raises(ValueError, match="neck"):
        render_iuv_from_pose(pose)


def test_gpu_duration_grows_with_steps_and_is_capped():
    assert gpu_duration(1) < gpu_duration(20) < gpu_duration(50)
    assert gpu_duration(20, 2) > gpu_duration(20, 1)
    assert gpu_duration(100, 10) == GPU_MAX_S
    with pytest.raises(ValueError):
        gpu_duration(0)
