"""Every bad input through the ``mcld`` API: a documented error with a clear
message, or acceptance (with a note where the visitor should know), and a good
request right after still works.

The corpus is generated in a temporary folder by
:mod:`tests.robustness.corpus`; weight files are written from the tiny
modules. Nothing here replaces our code: NaN and OOM are produced by poisoned
weights and a real forward hook on the tiny UNet.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mcld.errors import (
    CheckpointError,
    FaceEmbeddingError,
    InputImageError,
    MCLDError,
    NaNOutputError,
    NoFaceWarning,
    NoPersonError,
    OutOfMemoryError,
    WeightsNotFoundError,
)
from mcld.image_utils import MAX_FILE_BYTES, load_image
from tests.robustness.corpus import SHARED_PERSON, BadInput, build_image_corpus

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# Fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(images_dir, tmp_path_factory) -> dict[str, BadInput]:
    cases = build_image_corpus(images_dir, tmp_path_factory.mktemp("corpus"))
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    return {c.name: c for c in cases}


@pytest.fixture(scope="module")
def pt():
    from mcld.pose_transfer import PoseTransfer

    return PoseTransfer.tiny()


@pytest.fixture(scope="module")
def good_paths(images_dir) -> tuple[Path, Path]:
    return images_dir / SHARED_PERSON, images_dir / "reference_img_1.png"


def _message_of(err: BaseException) -> str:
    assert isinstance(err, MCLDError), f"{type(err).__name__} is not a documented MCLDError: {err}"
    assert err.user_message and "\n" not in err.user_message
    # a visitor-facing sentence: no paths, no tracebacks, no tensor shapes
    assert "/" not in err.user_message.replace("JPEG, PNG", ""), err.user_message
    assert "Traceback" not in err.user_message and "torch." not in err.user_message
    return err.user_message.lower()


def _assert_good_source(pt, good: Path) -> None:
    src = pt.prepare_source(good)
    assert src.crop.shape == (512, 352, 3) and src.iuv.shape == (512, 352, 3)
    assert (src.iuv[..., 0] > 0).mean() > 0.05  # a body, not an empty map


# The corpus --------------------------------------------------------------------


def test_corpus_has_every_kind(corpus):
    outcomes = {c.outcome for c in corpus.values()}
    assert outcomes == {"error", "ok", "note"}
    assert len(corpus) >= 30
    assert corpus["file_100mb"].path.stat().st_size >= 100 * 2**20 > MAX_FILE_BYTES


def test_load_image_corpus(corpus):
    """``load_image`` on every file (path and raw bytes): errors are
    ``InputImageError`` with the expected words, accepted files are right."""
    failures = []
    for case in corpus.values():
        if case.stage == "load" and case.outcome == "error":
            for src in (case.path, case.path.read_bytes() if case.path.stat().st_size < 2 * MAX_FILE_BYTES else None):
                if src is None:
                    continue
                try:
                    load_image(src)
                    failures.append(f"{case.name}: accepted")
                except MCLDError as err:
                    msg = _message_of(err)
                    if not isinstance(err, case.expect) or case.fragment not in msg:
                        failures.append(f"{case.name}: {type(err).__name__}: {err.user_message!r}")
        else:
            img = load_image(case.path)
            assert img.mode == "RGB" and max(img.size) <= 1024
            if case.check is not None:
                try:
                    case.check(img)
                except AssertionError as err:
                    failures.append(f"{case.name}: {err}")
    assert not failures, "\n".join(failures)


def test_prepare_source_corpus_then_recovers(corpus, pt, good_paths):
    """Every case through ``PoseTransfer.prepare_source``; after each one a good
    photo is still read and its person found, and at the end fully prepared."""
    good = good_paths[0]
    failures = []
    for case in corpus.values():
        if case.outcome == "ok" and case.stage == "load":
            continue  # plain format conversions: covered by test_load_image_corpus
        try:
            src = pt.prepare_source(case.path)
        except MCLDError as err:
            msg = _message_of(err)
            if case.outcome != "error":
                failures.append(f"{case.name}: unexpected {type(err).__name__}: {err.user_message!r}")
            elif not isinstance(err, case.expect) or case.fragment not in msg:
                failures.append(f"{case.name}: {type(err).__name__}: {err.user_message!r} lacks {case.fragment!r}")
        else:
            notes = " ".join(src.warnings).lower()
            if case.outcome == "error":
                failures.append(f"{case.name}: accepted, expected {case.expect.__name__}")
            elif case.outcome == "note" and case.fragment not in notes:
                failures.append(f"{case.name}: no note with {case.fragment!r}: {src.warnings}")
            elif case.outcome == "ok" and case.check is not None:
                try:
                    case.check(src.photo)
                except AssertionError as err:
                    failures.append(f"{case.name}: {err}")
            assert src.crop.shape == (512, 352, 3)
        photo, people = pt.detect_people(good)
        assert photo.size == (420, 560) and len(people) == 1
    _assert_good_source(pt, good)
    assert not failures, "\n".join(failures)


def test_two_people_uses_the_largest(corpus, pt):
    src = pt.prepare_source(corpus["two_people"].path)
    assert len(src.people) == 2
    areas = [(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]) for p in src.people]
    assert src.person_index == int(np.argmax(areas))
    assert any("using the largest" in w for w in src.warnings)
    # an explicit choice is honoured without the note
    other = pt.prepare_source(corpus["two_people"].path, person_index=1 - src.person_index)
    assert other.person_index == 1 - src.person_index
    assert not any("using the largest" in w for w in other.warnings)


def test_prepare_target_bad_inputs(corpus, pt, good_paths):
    for name in ("empty_upload", "text_renamed_jpg", "truncated_jpeg", "tiny_1x1", "no_person_plain", "only_legs"):
        case = corpus[name]
        with pytest.raises(case.expect, match="(?i)" + re.escape(case.fragment)) as info:
            pt.prepare_target(case.path)
        assert case.fragment in _message_of(info.value)
    tgt = pt.prepare_target(good_paths[1])
    assert tgt.iuv.shape == (512, 352, 3)


def test_generate_after_bad_inputs(corpus, pt, good_paths):
    """A bad photo given straight to ``generate`` fails cleanly; the next full
    generation works and gives an image of the documented size."""
    with pytest.raises(InputImageError, match="The image file is damaged or truncated and cannot be read"):
        pt.generate(corpus["corrupt_png"].path, good_paths[1], num_inference_steps=1)
    with pytest.raises(NoPersonError, match="No person was found in this photo"):
        pt.generate(good_paths[0], corpus["no_person_noise"].path, num_inference_steps=1)
    result = pt.generate(good_paths[0], good_paths[1], num_inference_steps=1, seed=1)
    assert result.image_512x352.size == (352, 512) and result.image_256x176.size == (176, 256)
    arr = np.asarray(result.image_512x352, np.float32)
    assert np.isfinite(arr).all() and arr.std() > 1.0


def test_bad_generation_settings_are_value_errors(pt, good_paths):
    src = pt.prepare_source(good_paths[0])
    for kwargs in ({"num_inference_steps": 0}, {"num_inference_steps": 10_000}, {"guidance_scale": -1.0},
                   {"guidance_scale": float("nan")}, {"seed": -5}):
        (name, value), = kwargs.items()
        with pytest.raises(ValueError, match=rf"{name} must be in .*got {value}"):
            pt.generate(src, src.photo, **kwargs)


# Saved face embeddings ---------------------------------------------------------


def test_face_embedding_with_nan_gives_zeros_and_warning(tmp_path):
    """Documented choice: NaN in a saved embedding -> zeros + NoFaceWarning
    (as a missing face), not an error; a broken file is FaceEmbeddingError."""
    from mcld.annotators.face import load_face_embedding

    good = np.random.default_rng(0).normal(0, 1, (1, 512)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    bad = good.copy()
    bad[0, 7] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.warns(NoFaceWarning, match="invalid values"):
        res = load_face_embedding(tmp_path / "nan.npy")
    assert res.status == "no_face" and res.embedding.shape == (1, 512) and not res.embedding.any()
    assert "without identity" in res.message
    np.save(tmp_path / "short.npy", good[:, :100])
    np.save(tmp_path / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("not numpy")
    for name, fragment in (("short.npy", "wrong size"), ("object.npy", "could not be read"),
                           ("text.npy", "could not be read"), ("absent.npy", "could not be read")):
        with pytest.raises(FaceEmbeddingError, match=fragment) as info:
            load_face_embedding(tmp_path / name)
        assert fragment in _message_of(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoFaceWarning)
        ok = load_face_embedding(tmp_path / "good.npy")
    assert ok.status == "ok" and np.array_equal(ok.embedding, good)


# Weight files ------------------------------------------------------------------


def _tiny_module(component: str, **overrides):
    from mcld.models.face_resampler import FaceResampler
    from mcld.models.pose_guider import PoseGuider
    from mcld.models.unets import load_config
    from mcld.tiny import randomize_module

    name, cls = {"pose_guider": ("pose_guider", PoseGuider), "face_resampler": ("face_resampler", FaceResampler)}[component]
    cfg = {k: v for k, v in load_config(f"tiny/{name}_config.json").items() if not k.startswith("_")}
    cfg.update(overrides)
    return randomize_module(cls(**cfg), seed=3)


class _Evil:
    """Pickles to a call of ``os.system``: a checkpoint that would run code."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("component", ["pose_guider", "face_resampler"])
def test_mcld_weights_missing_truncated_wrong(component, tmp_path):
    from mcld.weights import CHECKPOINT_FILES, load_component_weights

    fname = CHECKPOINT_FILES[component][0]
    module = _tiny_module(component)
    state = module.state_dict()

    def load(folder: Path):
        return load_component_weights(component, _tiny_module(component), source=str(folder), convert=False)

    def write(folder: str, obj=None, data: bytes | None = None) -> Path:
        d = tmp_path / folder
        d.mkdir()
        if data is not None:
            (d / fname).write_bytes(data)
        elif obj is not None:
            torch.save(obj, d / fname)
        return d

    good = write("good", state)
    raw = (good / fname).read_bytes()
    first = next(iter(state))
    wider = _tiny_module(component, **({"block_out_channels": [8, 16, 32, 64]} if component == "pose_guider" else {"dim": 32}))
    cases = {
        "missing": (write("missing"), WeightsNotFoundError, "was not found"),
        "empty": (write("empty", data=b""), CheckpointError, "is empty"),
        "truncated": (write("truncated", data=raw[: len(raw) // 2]), CheckpointError, "corrupt or truncated"),
        "wrong_keys": (write("keys", {("x." + k if k == first else k): v for k, v in state.items()}), CheckpointError, "does not match"),
        "missing_keys": (write("fewer", dict(list(state.items())[1:])), CheckpointError, "does not match"),
        "wrong_shapes": (write("shapes", wider.state_dict()), CheckpointError, "does not match"),
        "not_a_state_dict": (write("list", [1, 2, 3]), CheckpointError, "holds no weights"),
        "code_in_pickle": (write("evil", {"w": _Evil()}), CheckpointError, "could not be read|corrupt"),
    }
    for name, (folder, exc, fragment) in cases.items():
        with pytest.raises(exc, match=fragment) as info:
            load(folder)
        assert re.search(fragment, _message_of(info.value)), (name, info.value.user_message)
        if name in ("wrong_keys", "wrong_shapes", "missing_keys"):
            assert "key" in str(info.value) or "shape" in str(info.value)  # the detail names what is wrong
    loaded = load(good)  # recovery: the right file still loads, exactly
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k])


def test_densepose_weights_missing_truncated_wrong(tmp_path):
    from mcld.annotators.densepose import TINY_CONFIG, DensePosePredictor

    model = DensePosePredictor.tiny(seed=0).model
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    good_pkl = tmp_path / "good.pkl"
    with open(good_pkl, "wb") as fh:
        pickle.dump({"model": OrderedDict((k, v.numpy()) for k, v in state.items()), "__author__": "test"}, fh)
    raw = good_pkl.read_bytes()
    (tmp_path / "truncated.pkl").write_bytes(raw[: len(raw) // 2])
    with open(tmp_path / "evil.pkl", "wb") as fh:
        pickle.dump({"model": {"w": _Evil()}}, fh)
    first = next(iter(state))
    torch.save({("bogus." + k if k == first else k): v for k, v in state.items()}, tmp_path / "keys.pth")
    torch.save({k: (torch.zeros(3, *v.shape[1:]) if k == first else v) for k, v in state.items()}, tmp_path / "shapes.pth")
    (tmp_path / "truncated.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 40)

    def load(name: str):
        return DensePosePredictor.from_pretrained(
            tmp_path / name, config=TINY_CONFIG, convert_to_safetensors=False, local_files_only=True
        )

    cases = {
        "absent.pkl": (WeightsNotFoundError, "not found"),
        "truncated.pkl": (CheckpointError, "damaged"),
        "evil.pkl": (CheckpointError, "unexpected code"),
        "keys.pth": (CheckpointError, "does not match"),
        "shapes.pth": (CheckpointError, "does not match"),
        "truncated.pth": (CheckpointError, "damaged"),
    }
    for name, (exc, fragment) in cases.items():
        with pytest.raises(exc, match=re.escape(fragment)) as info:
            load(name)
        assert fragment in _message_of(info.value), (name, info.value.user_message)
    predictor = load("good.pkl")  # recovery
    for k, v in predictor.model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_densepose_result_without_person(pt, good_paths):
    from mcld.annotators.densepose import DensePoseResult

    empty = DensePoseResult(
        boxes=np.zeros((0, 4), np.float32), scores=np.zeros((0,), np.float32),
        boxes_xywh=np.zeros((0, 4), np.int64), labels=[], uv=[], image_size=(512, 352),
    )
    with pytest.raises(NoPersonError, match="No person was found in the image, so no DensePose map could be made") as info:
        empty.to_iuv()
    assert "no person" in _message_of(info.value)
    _assert_good_source(pt, good_paths[0])


# NaN and out-of-memory guards in the pipeline ----------------------------------


def _small_call(pipe, **kwargs):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return pipe(source_image=rgb, texture_map=rgb, target_iuv=rgb, face_embeds=None, num_inference_steps=2,
                guidance_scale=3.5, height=64, width=64, generator=torch.Generator().manual_seed(0), **kwargs)


def test_nan_latents_raise_nan_output_error(pt):
    pipe = pt.pipeline
    bias = pipe.denoising_unet.conv_out.bias
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias.fill_(float("nan"))
        with pytest.raises(NaNOutputError, match=re.escape("(non-finite latents after the denoising loop (2 steps))")) as info:
            _small_call(pipe)
        assert "invalid values" in _message_of(info.value)
    finally:
        with torch.no_grad():
            bias.copy_(saved)
    out = _small_call(pipe, output_type="np")
    assert np.isfinite(np.asarray(out.images)).all()


def test_cuda_oom_inside_unet_becomes_out_of_memory_error(pt):
    pipe = pt.pipeline
    calls = []

    def hook(module, args, output):
        calls.append(1)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = pipe.denoising_unet.register_forward_hook(hook)
    try:
        with pytest.raises(OutOfMemoryError, match=re.escape("The GPU ran out of memory. Try fewer steps, a smaller size or fewer references. (CUDA out of memory.")) as info:
            _small_call(pipe)
    finally:
        handle.remove()
    assert calls == [1]
    msg = _message_of(info.value)
    assert "out of memory" in msg and "fewer steps" in msg
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    out = _small_call(pipe, output_type="np")  # the next call works (bank cleared)
    assert np.isfinite(np.asarray(out.images)).all()
