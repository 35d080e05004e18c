"""The demo's pose gallery: real DensePose target poses first, skeletons as a
labelled fallback, plus the demo's licensed example photos.

Public API::

    from mcld.gallery import load_gallery, find_gallery_pose, gallery_target, precompute_gallery_iuvs
    gallery = precompute_gallery_iuvs(load_gallery(), pose_transfer)  # once, before launch()
    pose = find_gallery_pose(gallery, "T-pose")                     # or "t_pose"
    target = gallery_target(pose, mirror=True, align_to=source)     # TargetConditions

Modules: :mod:`~mcld.gallery.entries` (what an entry is, files, names),
:mod:`~mcld.gallery.skeleton` (the approximate IUV drawn from a skeleton),
:mod:`~mcld.gallery.targets` (entry -> pose-guider target, thumbnails),
:mod:`~mcld.gallery.precompute` (real IUVs of photo entries, cached),
:mod:`~mcld.gallery.examples` (example photos, Hub example pairs).
Importing it loads no model and downloads nothing.
"""

from .entries import (
    APPROXIMATE_IUV_NOTE,
    DEFAULT_GALLERY_DIRS,
    DENSEPOSE_POSES_DIR,
    GALLERY_DIR,
    GALLERY_KINDS,
    REAL_IUV_NOTE,
    SKELETON_IUV_NOTE,
    GalleryPose,
    GalleryPoseError,
    find_gallery_pose,
    frame_iuv,
    gallery_caption,
    gallery_pose_to_person,
    load_gallery,
    load_gallery_pose,
    pose_in_crop_frame,
    save_gallery_pose,
)
from .examples import EXAMPLE_PHOTOS, load_examples_dataset, write_example_photos
from .precompute import default_gallery_cache_dir, densepose_model_id, precompute_gallery_iuvs
from .skeleton import render_iuv_from_pose
from .targets import gallery_target, gallery_thumbnail

__all__ = [
    "APPROXIMATE_IUV_NOTE",
    "DEFAULT_GALLERY_DIRS",
    "DENSEPOSE_POSES_DIR",
    "GALLERY_DIR",
    "GALLERY_KINDS",
    "REAL_IUV_NOTE",
    "SKELETON_IUV_NOTE",
    "EXAMPLE_PHOTOS",
    "GalleryPose",
    "GalleryPoseError",
    "default_gallery_cache_dir",
    "densepose_model_id",
    "find_gallery_pose",
    "frame_iuv",
    "gallery_caption",
    "gallery_pose_to_person",
    "gallery_target",
    "gallery_thumbnail",
    "load_examples_dataset",
    "load_gallery",
    "load_gallery_pose",
    "pose_in_crop_frame",
    "precompute_gallery_iuvs",
    "render_iuv_from_pose",
    "save_gallery_pose",
    "write_example_photos",
]
