"""mcld.demo.RunRequest and check_request: what Generate and Generate edit
refuse before any work, with the visitor's sentence (as ``gr.Error`` through
``readable``), and the Job a request becomes."""

from __future__ import annotations

import gradio as gr
import pytest

from mcld.demo import DemoInputError, RunRequest, check_request, edit_job_args, readable
from mcld.errors import MCLDError


def _request(images_dir, **changes) -> RunRequest:
    values = dict(
        source_path=str(images_dir / "reference_img_0.png"), source_person=-1, target_mode="gallery",
        target_path=None, target_person=-1, gallery_pose="t_pose", mirror=False, align=False,
        num_inference_steps=1, guidance_scale=3.5, seed=0, scheduler="ddim", output_size="256x176",
        texture_map="upstream (default)", history=[], progress=None,
    )  # fmt: skip
    values.update(changes)
    return RunRequest.of(values)  # extra names (history, progress) are left out, as from a handler's locals()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seed", None, r"^Seed is empty: enter a number in Advanced\.$"),
        ("num_inference_steps", 0, r"^Advanced settings: num_inference_steps must be in 1\.\.100"),
        ("output_size", "9x9", r"^Output size must be one of 512x352, 256x176\.$"),
        ("source_path", None, r"^Upload a source photo of a person first\.$"),
    ],
)
def test_bad_settings_are_readable_errors(options, images_dir, field, value, message):
    request = _request(images_dir, **{field: value})
    with pytest.raises(DemoInputError, match=message):
        request.check(options, "Upload a source photo of a person first.")
    with pytest.raises(gr.Error, match=message.strip("^$")):  # str(gr.Error) is the message quoted
        readable(request.check)(options, "Upload a source photo of a person first.")


def test_check_request_takes_the_fields_as_arguments(options):
    check_request(options, "photo.png", "512x352", 20, 3.5, 0, "unused")  # all good: no error
    with pytest.raises(DemoInputError, match="Guidance is empty"):
        check_request(options, "photo.png", "512x352", 20, None, 0, "unused")


def test_person_index_from_another_photo_is_a_readable_error(services, options, images_dir):
    # Person 3 chosen in a group photo, then a one-person photo: no IndexError
    # or "person_index out of range", but a sentence for the visitor.
    request = _request(images_dir, source_person=2)
    with pytest.raises(MCLDError, match=r"Person 3 was chosen, but 1 person was found in the source photo"):
        request.prepare(services, options)
    with pytest.raises(gr.Error, match=r"Person 3 was chosen, but 1 person was found in the source photo"):
        readable(request.prepare)(services, options)


def test_a_photo_target_needs_a_photo_and_a_gallery_target_a_name(services, options, images_dir):
    with pytest.raises(DemoInputError, match=r"^Upload a target-pose photo, or choose a pose in the Gallery tab\.$"):
        _request(images_dir, target_mode="photo").prepare(services, options)
    with pytest.raises(DemoInputError, match=r"^Choose a pose in the gallery first\.$"):
        _request(images_dir, gallery_pose="").prepare(services, options)


def test_a_request_becomes_one_job_with_its_settings(services, options, images_dir):
    steps = []
    job = _request(images_dir, mirror=True, seed=7, texture_map="clean fill").prepare(
        services, options, lambda *args, **kwargs: steps.append(kwargs["desc"])
    )  # fmt: skip
    assert steps == ["Finding the people (MediaPipe), faces and parsing"]
    assert job.gallery_pose == "t_pose" and job.settings.seed == 7 and job.settings.num_inference_steps == 1
    assert job.settings.texture_fill == "clean" and not job.is_edit and job.mirror and job.gpu_seconds() > 0


def test_edit_args_name_only_the_photos_a_choice_uses(services, options, images_dir):
    photo = str(images_dir / "reference_img_2.png")
    paths = [str(images_dir / "reference_img_0.png"), None, photo, None, None]
    args = edit_job_args(services, options, paths, {"face": "Source", "shoes": "Photo 3"}, 1)
    assert args["photos"] == [photo] and args["labels"] == ["Source", "Photo 3"]
    assert args["selection"].shoes == 1 and args["parsing_attention"] is True and args["parser"] is services.parser()
    with pytest.raises(MCLDError, match="no photo was uploaded as Photo 4"):
        edit_job_args(services, options, paths, {"shoes": "Photo 4"}, False)
