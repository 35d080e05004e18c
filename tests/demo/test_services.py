"""mcld.demo.DemoServices: the models, locator, parser and gallery of one
demo, built once per instance; a full-mode demo that was not started says so."""

from __future__ import annotations

import gradio as gr
import pytest

from mcld.demo import DemoInputError, DemoOptions, DemoServices, readable
from mcld.gallery import GalleryPoseError


def test_full_mode_without_start_up_names_what_is_missing():
    services = DemoServices(DemoOptions(tiny=False))
    assert services.startup.pose_transfer is None and services.startup.mode == "full"
    with pytest.raises(DemoInputError, match=r"Hub is not reachable \(app.py was imported, not started\).*make demo-tiny"):
        services.pose_transfer()
    # Detection still works: a model-less locator, built once for this instance only.
    assert services.locator() is services.locator()
    assert services.locator() is not DemoServices(DemoOptions(tiny=False)).locator()
    assert services.parser().source == "mediapipe-coarse" and services.parser_name() == "coarse parsing (MediaPipe)"
    # No gallery was prepared at start-up: the gallery files are loaded once for this instance.
    assert services.startup.gallery is None
    assert services.gallery() is services.gallery() and len(services.gallery()) > 0
    assert services.gallery() is not DemoServices(DemoOptions(tiny=False)).gallery()


def test_tiny_mode_builds_the_models_on_first_use(services):
    pt = services.pose_transfer()
    assert pt is services.pose_transfer() and services.locator() is pt
    assert services.startup.mode == "tiny"


def test_unknown_gallery_pose_lists_the_valid_names(services):
    names = [p.name for p in services.gallery()]
    with pytest.raises(GalleryPoseError, match="T-pose-that-is-not-there") as info:
        services.gallery_pose("T-pose-that-is-not-there")
    assert all(name in info.value.user_message for name in names), info.value.user_message
    with pytest.raises(gr.Error, match="T-pose-that-is-not-there"):
        readable(services.gallery_pose)("T-pose-that-is-not-there")
    assert services.gallery_pose(names[0]).name == names[0]
    with pytest.raises(DemoInputError, match=r"^Choose a pose in the gallery first\.$"):
        services.gallery_pose(None)
