"""Write the gallery's skeleton poses ``examples/poses/*.json`` (COCO-18 keypoints).

These are the gallery's labelled fallback: their IUV is drawn from the
skeleton (approximate). The real DensePose poses live in ``assets/poses/``
(copied, with their licence; see its README), not written here.

Two kinds of skeleton poses:

* hand-made standard poses, typed in below in a 352x512 frame;
* poses MediaPipe finds in the licensed example photos
  (:data:`mcld.gallery.EXAMPLE_PHOTOS`, scikit-image sample data), kept
  only when the body is visible enough to draw (neck and a hip).

Run from the repository root::

    .venv/bin/python examples/make_poses.py

The output is deterministic for a given MediaPipe version; commit the JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcld.annotators.mediapipe_pose import detect_people  # noqa: E402
from mcld.gallery import (  # noqa: E402
    EXAMPLE_PHOTOS,
    GALLERY_DIR,
    GalleryPose,
    render_iuv_from_pose,
    save_gallery_pose,
    write_example_photos,
)

FRAME = (352, 512)  # (width, height) of the hand-made poses

# COCO-18 order: nose, neck, r_sho, r_elb, r_wri, l_sho, l_elb, l_wri, r_hip, r_knee,
# r_ank, l_hip, l_knee, l_ank, r_eye, l_eye, r_ear, l_ear. Person facing the camera:
# the person's right is on the image's left.
_STAND = {
    0: (176, 72), 1: (176, 116), 2: (136, 120), 3: (127, 186), 4: (123, 248), 5: (216, 120), 6: (225, 186),
    7: (229, 248), 8: (154, 252), 9: (152, 348), 10: (152, 444), 11: (198, 252), 12: (200, 348), 13: (200, 444),
    14: (169, 64), 15: (183, 64), 16: (160, 70), 17: (192, 70),
}  # fmt: skip

HAND_MADE: dict[str, tuple[str, dict[int, tuple[float, float]], tuple[int, ...]]] = {
    # name: (label, keypoint overrides, invisible keypoints)
    "standing_front": ("Standing, front", {}, ()),
    "arms_raised": ("Arms raised", {3: (118, 76), 4: (112, 26), 6: (234, 76), 7: (240, 26)}, ()),
    "t_pose": ("T-pose", {3: (84, 120), 4: (34, 122), 6: (268, 120), 7: (318, 122)}, ()),
    "hands_on_hips": ("Hands on hips", {3: (100, 186), 4: (150, 246), 6: (252, 186), 7: (202, 246)}, ()),
    "walking": (
        "Walking",
        {3: (122, 184), 4: (134, 244), 6: (232, 182), 7: (222, 240), 9: (142, 346), 10: (126, 440), 12: (210, 346), 13: (226, 440)},
        (),
    ),
    "standing_back": (
        "Standing, back",
        {2: (216, 120), 3: (225, 186), 4: (229, 248), 5: (136, 120), 6: (127, 186), 7: (123, 248),
         8: (198, 252), 9: (200, 348), 10: (200, 444), 11: (154, 252), 12: (152, 348), 13: (152, 444),
         16: (192, 70), 17: (160, 70)},
        (0, 14, 15),
    ),
}  # fmt: skip


def hand_made_pose(name: str) -> GalleryPose:
    """One hand-made pose from :data:`HAND_MADE`."""
    label, overrides, hidden = HAND_MADE[name]
    pts = {**_STAND, **overrides}
    kps = np.array([pts[i] for i in range(18)], np.float32) / np.array(FRAME, np.float32)
    vis = np.ones(18, np.float32)
    vis[list(hidden)] = 0.0
    box = np.array([96, 20, 256, 470], np.float32)
    if name == "t_pose":
        box = np.array([20, 20, 332, 470], np.float32)
    return GalleryPose(name, label, kps, vis, FRAME, box, "hand-made")


def upright(person) -> bool:
    """Plausibility filter: the neck -> mid-hip axis within 20 degrees of vertical."""
    k = person.keypoints_px
    hips = [i for i in (8, 11) if person.visible[i]]
    axis = k[hips].mean(0) - k[1]
    return bool(axis[1] > 0 and abs(np.degrees(np.arctan2(axis[0], axis[1]))) <= 20)


def main() -> None:
    """Write every pose and print a one-line summary per file."""
    for name in HAND_MADE:
        pose = hand_made_pose(name)
        render_iuv_from_pose(pose, FRAME)  # must be drawable
        path = save_gallery_pose(pose, GALLERY_DIR / f"{name}.json", label=pose.label)
        print(f"wrote {path.relative_to(ROOT)} (hand-made)")
    for name, path in write_example_photos().items():
        from PIL import Image

        people = detect_people(np.asarray(Image.open(path).convert("RGB")))
        person = max(people, key=lambda p: float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
        try:
            render_iuv_from_pose(person)
        except ValueError as err:
            print(f"skipped {name}: {err}")
            continue
        if not upright(person):
            print(f"skipped {name}: MediaPipe's torso is tilted more than 20 degrees (implausible detection)")
            continue
        _, source, licence = EXAMPLE_PHOTOS[name]
        out = save_gallery_pose(
            person,
            GALLERY_DIR / f"photo_{name}.json",
            label=f"From photo: {name}",
            source=f"MediaPipe on {source} ({licence})",
        )
        print(f"wrote {out.relative_to(ROOT)} ({int(person.visible.sum())} visible keypoints)")


if __name__ == "__main__":
    main()
