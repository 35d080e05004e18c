"""The two-phase job API: ``PoseTransfer.prepare`` (CPU) -> ``Job`` -> ``PoseTransfer.run`` (GPU).

Real MediaPipe and the coarse MediaPipe parser on the shared photos; tiny
random weights for DensePose and MCLD (no download).
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from mcld.conditions import Job, Note, PersonCrop, SamplingSettings, TargetConditions
from mcld.editing import EditSelectionError, RegionSelection, edit
from mcld.errors import NoPersonError
from mcld.pose_transfer import PoseTransfer
from mcld.zerogpu import GPU_CONDITIONS_S, GPU_MAX_S, gpu_duration

STEPS = 1  # tiny random weights: the number of steps does not change what is checked


@pytest.fixture(scope="module")
def pt() -> PoseTransfer:
    return PoseTransfer.tiny(seed=0)


@pytest.fixture(scope="module")
def parser():
    from mcld.annotators.human_parsing import HumanParser

    return HumanParser.from_pretrained("mediapipe-coarse")


@pytest.fixture(scope="module")
def photos(images_dir):
    return [str(images_dir / f"reference_img_{k}.png") for k in range(3)]


def _tensors(value, seen=None) -> list:
    """Every torch tensor reachable from ``value`` (dataclass fields, containers, object dicts)."""
    import torch

    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None), np.ndarray)):
        return []
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, (list, tuple, set)):
        children = list(value)
    else:
        children = list(getattr(value, "__dict__", {}).values())
    return [t for child in children for t in _tensors(child, seen)]


def test_a_plain_job_pickles_without_tensors_and_runs_like_generate(pt, photos):
    job = pt.prepare(photos[0], photos[1], num_inference_steps=STEPS, seed=5)
    assert isinstance(job, Job) and not job.is_edit
    assert isinstance(job.photos[0], PersonCrop) and isinstance(job.target, PersonCrop)
    assert job.gpu_seconds() == gpu_duration(STEPS, 1)
    assert _tensors(job) == [], "a Job must hold no tensors (it is pickled into the ZeroGPU worker)"
    copy = pickle.loads(pickle.dumps(job))
    assert np.array_equal(copy.photos[0].crop, job.photos[0].crop) and copy.settings == job.settings

    result = pt.run(copy)
    direct = pt.generate(photos[0], photos[1], num_inference_steps=STEPS, seed=5)
    assert np.array_equal(np.asarray(result.image_512x352), np.asarray(direct.image_512x352)), "run(prepare()) != generate()"
    assert result.settings == direct.settings
    assert result.source.iuv.shape == (512, 352, 3) and result.target.iuv.shape == (512, 352, 3)
    assert result.composed is None and result.sources == [] and result.image("256x176").size == (176, 256)
    assert pickle.loads(pickle.dumps(result)).settings == result.settings


def test_an_edit_job_composes_and_matches_editing_edit(pt, photos, parser):
    selection, used = RegionSelection.from_choices(
        {"upper_garment": "Photo 3", "identity": "Same as face"}, ["Source", "Photo 2", "Photo 3"]
    )
    assert used == [0, 2] and selection.upper_garment == 1 and selection.identity is None
    job = pt.prepare(
        photos[0], photos[1], photos=[photos[2]], selection=selection, labels=["Source", "Photo 3"], parser=parser,
        num_inference_steps=STEPS, seed=3, parsing_attention=True,
    )  # fmt: skip
    assert job.is_edit and len(job.parsings) == 2
    expected = min(GPU_MAX_S, int(np.ceil(gpu_duration(STEPS, 2) + GPU_CONDITIONS_S / 2)))
    assert job.gpu_seconds() == expected
    assert _tensors(job) == []
    result = pt.run(pickle.loads(pickle.dumps(job)))
    assert result.composed is not None and len(result.sources) == 2
    assert result.settings["photos"] == ["Source", "Photo 3"] and result.settings["parsing_attention"] is True
    assert result.settings["selection"] == dataclasses.asdict(selection)
    assert selection.named(job.labels) == {"upper_garment": "Photo 3"}
    target = pt.prepare_target(photos[1])
    direct = edit(
        pt, [photos[0], photos[2]], selection, target, parser=parser, num_inference_steps=STEPS, seed=3,
        parsing_attention=True, photo_labels=["Source", "Photo 3"],
    )  # fmt: skip
    assert np.array_equal(np.asarray(result.image_512x352), np.asarray(direct.image_512x352)), "run(edit job) != edit()"
    assert all(isinstance(n, Note) for n in result.composed.notes)


def test_settings_are_refused_before_any_photo_is_read(pt):
    with pytest.raises(ValueError, match=r"num_inference_steps must be in 1\.\.100, got 0"):
        pt.prepare("no-such-file.png", "no-such-file.png", num_inference_steps=0)
    with pytest.raises(ValueError, match=r"unknown scheduler 'nope'"):
        pt.prepare("no-such-file.png", "no-such-file.png", scheduler="nope")
    with pytest.raises(ValueError, match=r"unknown ablations \['nope'\]"):
        SamplingSettings(ablations=["nope"])


def test_a_person_the_photo_lacks_is_a_visitor_sentence(pt, photos):
    with pytest.raises(NoPersonError, match=r"Person 3 was chosen, but 1 person was found in the source photo"):
        pt.prepare(photos[0], photos[1], source_person=2)
    with pytest.raises(EditSelectionError, match=r"Shoes is to come from Photo 2, but no photo was uploaded as Photo 2"):
        RegionSelection.from_choices({"shoes": "Photo 2"}, ["Source", "Photo 2"], available=[True, False])


def test_detection_is_cached_per_file_on_the_instance(photos):
    a, b = PoseTransfer(None, None), PoseTransfer(None, None)
    first = a.detect_people(photos[0])
    assert a.detect_people(photos[0]) is first, "the same file must not run MediaPipe twice"
    assert b.detect_people(photos[0]) is not first, "instances share no cache"


def test_a_gallery_target_is_finished_on_the_cpu(pt, photos):
    from mcld.gallery import load_gallery

    pose = load_gallery()[0]
    job = pt.prepare(photos[0], pose, mirror=True, align=True, num_inference_steps=STEPS)
    assert isinstance(job.target, TargetConditions) and job.target.mirrored and job.target.aligned
    assert job.gallery_pose == pose.name
    assert any(n.kind == "gallery" and n.photo == "target" for n in job.notes)


def test_cli_generates_an_edit_on_a_gallery_pose(tmp_path, photos, capsys):
    import json

    from PIL import Image

    from mcld import cli
    from mcld.gallery import load_gallery

    name = load_gallery()[0].name
    out = tmp_path / "edit.png"
    rc = cli.main(
        ["generate", "--tiny", "--steps", "1", "--source", photos[0], "--gallery", name,
         "--edit", f"upper_garment={photos[2]}", "--edit", f"shoes={photos[2]}", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["gallery_pose"] == name and info["photos"] == ["Source", photos[2]]
    assert info["selection"]["upper_garment"] == 1 and info["selection"]["shoes"] == 1
    assert Image.open(out).size == (352, 512)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--gallery", "no_such_pose"], "no_such_pose"),
        (["--target-pose", "x.png", "--edit", "nose=x.png"], "unknown region 'nose'"),
        (["--target-pose", "x.png", "--edit", "shoes"], "--edit takes REGION=PHOTO"),
    ],
)
def test_cli_refuses_bad_edit_and_gallery_arguments_before_loading(tmp_path, photos, capsys, extra, message):
    from mcld import cli

    rc = cli.main(["generate", "--tiny", "--source", photos[0], *extra, "--out", str(tmp_path / "o.png")])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_run_never_runs_mediapipe(photos):
    """The GPU half gets every person in the job: a fresh instance without a
    detector runs a job and still has none (it would build one to detect)."""
    job = PoseTransfer.tiny(seed=0).prepare(photos[0], photos[1], align=True, num_inference_steps=STEPS)
    gpu_side = PoseTransfer.tiny(seed=0)
    assert gpu_side.pose_detector is None
    result = gpu_side.run(job)
    assert gpu_side.pose_detector is None, "run() must not detect people"
    assert result.source.crop is job.photos[0].crop and result.target.aligned
