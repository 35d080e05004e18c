"""The face-identity model with no configuration: default Hub source, download,
onnxruntime check, status; and the embedder on a working (tiny) pack.

The ONNX models are built here with ``onnx.helper`` in the shapes insightface
reads: an SCRFD-shaped detector (9 outputs: score, box and 5-landmark maps at
strides 8, 16, 32, two anchors each) that fires on bright 32x32 patches, and an
ArcFace-shaped recognizer (``(N, 3, 112, 112)`` -> ``(N, 512)``: the mean colour
times a fixed ``(3, 512)`` matrix plus a bias). A small HTTP server on the
loopback interface speaks the part of the Hub's file protocol that
``hf_hub_download`` uses (``HEAD``/``GET /{repo}/resolve/{revision}/{file}``
with ``X-Repo-Commit`` and ``ETag``), and each start-up runs in a fresh
interpreter with no MCLD or insightface variable set and ``HF_ENDPOINT``
pointing at that server, as on a fresh Space.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mcld.annotators.face import (  # noqa: E402
    ANTELOPEV2_FILES,
    DEFAULT_ANTELOPEV2_REPO,
    FACE_MODEL_MISSING_WARNING,
    FaceEmbedder,
    check_antelopev2_pack,
    ensure_face_model,
)
from mcld.errors import NoFaceWarning  # noqa: E402
from tests.helpers.fake_hub import FakeHub  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DETECTOR, RECOGNIZER = ANTELOPEV2_FILES
STRIDES = (8, 16, 32)
#: 5 landmarks (eyes, nose, mouth corners) around an anchor, in strides.
KPS_OFFSETS = np.array([-0.6, -0.4, 0.6, -0.4, 0.0, 0.1, -0.5, 0.7, 0.5, 0.7], np.float32)
#: Per-channel weights and bias of the fake recognizer's (3 -> 512) layer.
REC_W = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
REC_B = np.random.default_rng(1).standard_normal(512).astype(np.float32)


def build_detector(path: Path) -> Path:
    """SCRFD-shaped detector: at stride 32 a patch scores sigmoid(20 * mean - 18)
    of the normalised input (bright patches fire), the other strides never fire;
    boxes reach 2 strides from the anchor, landmarks sit at KPS_OFFSETS."""
    nodes, inits, outputs = [], [], []
    names = {"score": [], "bbox": [], "kps": []}
    for s in STRIDES:
        for kind, channels, width in (("score", 2, 1), ("bbox", 8, 4), ("kps", 20, 10)):
            w = np.zeros((channels, 3, s, s), np.float32)
            if kind == "score":
                b = np.full(channels, -20.0, np.float32)
                if s == 32:
                    w[:] = 20.0 / (3 * s * s)
                    b[:] = -18.0
            elif kind == "bbox":
                b = np.full(channels, 2.0, np.float32)
            else:
                b = np.tile(KPS_OFFSETS, 2)
            tag = f"{kind}{s}"
            inits += [numpy_helper.from_array(w, f"{tag}_w"), numpy_helper.from_array(b, f"{tag}_b"),
                      numpy_helper.from_array(np.array([-1, width], np.int64), f"{tag}_shape")]  # fmt: skip
            conv_out = f"{tag}_conv"
            nodes.append(helper.make_node("Conv", ["input.1", f"{tag}_w", f"{tag}_b"], [conv_out], strides=[s, s]))
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [conv_out], [f"{tag}_sig"]))
                conv_out = f"{tag}_sig"
            nodes.append(helper.make_node("Transpose", [conv_out], [f"{tag}_t"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [f"{tag}_t", f"{tag}_shape"], [tag]))
            names[kind].append((tag, width))
    for kind in ("score", "bbox", "kps"):
        outputs += [helper.make_tensor_value_info(tag, TensorProto.FLOAT, ["n", width]) for tag, width in names[kind]]
    graph = helper.make_graph(
        nodes, "fake_scrfd", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])], outputs,
        initializer=inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def build_recognizer(path: Path, dim: int = 512) -> Path:
    """ArcFace-shaped recognizer: (N, 3, 112, 112) -> mean colour @ W + b, (N, dim)."""
    w, b = (REC_W, REC_B) if dim == 512 else (REC_W[:, :dim], REC_B[:dim])
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc_w"], ["mm"]),
        helper.make_node("Add", ["mm", "fc_b"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes, "fake_arcface", [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", dim])],
        initializer=[numpy_helper.from_array(w, "fc_w"), numpy_helper.from_array(b, "fc_b")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def build_pack(directory: Path, rec_dim: int = 512) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    build_detector(directory / DETECTOR)
    build_recognizer(directory / RECOGNIZER, rec_dim)
    return directory


@pytest.fixture(scope="module")
def pack_files(tmp_path_factory) -> dict[str, bytes]:
    """The pack as the mirror holds it: the two checked files and three others."""
    directory = build_pack(tmp_path_factory.mktemp("pack"))
    files = {name: (directory / name).read_bytes() for name in ANTELOPEV2_FILES}
    files.update({name: b"not needed: must not be downloaded" for name in ("1k3d68.onnx", "2d106det.onnx", "genderage.onnx")})
    return files


NESTED_REPO = "someone/insightface-packs"

STARTUP_SCRIPT = """
import json
from mcld.annotators.face import ensure_face_model
status = ensure_face_model()
print(json.dumps(dict(status.as_dict(), status_line=status.status_line())))
"""


def _fresh_startup(tmp_path: Path, endpoint: str, hf_home: Path, offline: bool, **extra_env: str) -> dict:
    """``ensure_face_model()`` in a fresh interpreter configured like a new Space
    (plus ``extra_env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCLD_", "INSIGHTFACE", "HF_", "HUGGINGFACE"))}
    home = tmp_path / "home"  # no ~/.insightface
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), HF_HOME=str(hf_home), HF_ENDPOINT=endpoint,
               HF_HUB_OFFLINE="1" if offline else "0", HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO_ROOT), **extra_env)  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_fresh_space_downloads_the_default_pack_and_reports_it(tmp_path, pack_files):
    hub = FakeHub({DEFAULT_ANTELOPEV2_REPO: pack_files})
    try:
        status = _fresh_startup(tmp_path, hub.url, tmp_path / "hf", offline=False)
        assert status["available"] is True, status["message"]
        assert status["name"] == "antelopev2" and status["source"] == DEFAULT_ANTELOPEV2_REPO
        assert status["fetch_from"] == f"{hub.url}/{DEFAULT_ANTELOPEV2_REPO}"
        assert status["status_line"].startswith("**Face identity: antelopev2**")
        # Only the detector and the recognizer were downloaded, into the Hub cache.
        gets = sorted(r.split()[1].rsplit("/", 1)[1] for r in hub.requests if r.startswith("GET"))
        assert gets == sorted(ANTELOPEV2_FILES)
        pack = Path(status["pack_dir"])
        assert pack.is_relative_to(tmp_path / "hf") and "models--DIAMONIK7777--antelopev2" in pack.parts[-3]
        for name in ANTELOPEV2_FILES:
            assert (pack / name).read_bytes() == pack_files[name]

        hub.requests.clear()  # a later offline start-up uses the cache and asks nothing
        again = _fresh_startup(tmp_path, hub.url, tmp_path / "hf", offline=True)
        assert again["available"] is True and again["pack_dir"] == status["pack_dir"] and hub.requests == []
    finally:
        hub.close()


def test_offline_with_an_empty_cache_says_what_is_missing_and_where_from(tmp_path):
    endpoint = "http://127.0.0.1:9"  # nothing is asked: offline
    status = _fresh_startup(tmp_path, endpoint, tmp_path / "empty_hf", offline=True)
    assert status["available"] is False and status["pack_dir"] is None
    assert status["source"] == DEFAULT_ANTELOPEV2_REPO
    for name in ANTELOPEV2_FILES:
        assert name in status["message"]
    assert f"{endpoint}/{DEFAULT_ANTELOPEV2_REPO}" in status["message"] and "offline" in status["message"]
    assert status["status_line"].startswith("**Face identity: off.**")


def test_repository_without_the_files_is_reported(tmp_path):
    hub = FakeHub({DEFAULT_ANTELOPEV2_REPO: {"README.md": b"empty"}})
    try:
        status = _fresh_startup(tmp_path, hub.url, tmp_path / "hf", offline=False)
    finally:
        hub.close()
    assert status["available"] is False and DETECTOR in status["message"] and hub.url in status["message"]


def test_repository_override_with_the_zip_nesting(tmp_path, pack_files):
    """``$MCLD_INSIGHTFACE_REPO`` wins over the default; a repository holding the
    pack in ``antelopev2/`` is fetched with ``snapshot_download`` of the two files."""
    nested = {f"antelopev2/{name}": body for name, body in pack_files.items()}
    hub = FakeHub({NESTED_REPO: nested})
    try:
        status = _fresh_startup(tmp_path, hub.url, tmp_path / "hf", offline=False, MCLD_INSIGHTFACE_REPO=NESTED_REPO)
    finally:
        hub.close()
    assert status["available"] is True, status["message"]
    assert status["source"] == NESTED_REPO and Path(status["pack_dir"]).name == "antelopev2"
    gets = sorted(r.split()[1].split("/resolve/")[1].split("/", 1)[1] for r in hub.requests if "/resolve/" in r and r.startswith("GET"))
    assert gets == sorted(f"antelopev2/{name}" for name in ANTELOPEV2_FILES)


def test_check_names_the_broken_file(tmp_path):
    good = build_pack(tmp_path / "good")
    assert check_antelopev2_pack(good) is None

    short = build_pack(tmp_path / "short", rec_dim=128)  # recognizer gives 128-d, not 512-d
    problem = check_antelopev2_pack(short)
    assert RECOGNIZER in problem and "512" in problem and "128" in problem

    damaged = build_pack(tmp_path / "damaged")
    (damaged / DETECTOR).write_bytes(b"truncated download")
    problem = check_antelopev2_pack(damaged)
    assert DETECTOR in problem and "onnxruntime" in problem

    swapped = build_pack(tmp_path / "swapped")  # a recognizer where the detector should be
    (swapped / DETECTOR).write_bytes((swapped / RECOGNIZER).read_bytes())
    assert "1 outputs" in check_antelopev2_pack(swapped)

    status = ensure_face_model(root=short)
    assert status.available is False and RECOGNIZER in status.message and status.pack_dir == str(short)
    assert status.warning == FACE_MODEL_MISSING_WARNING


def _photo(bright: bool) -> np.ndarray:
    photo = np.zeros((512, 352, 3), np.uint8)
    if bright:
        photo[40:200, 100:260] = 255  # a bright square: the fake detector's "face"
    return photo


@pytest.fixture()
def embedder(tmp_path, monkeypatch):
    pytest.importorskip("insightface")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build_pack(tmp_path / "models" / "antelopev2")
    return FaceEmbedder(root=tmp_path)


def test_embedder_runs_the_checked_pack(embedder):
    assert embedder.model_status.available and embedder.model_status.source == str(embedder.root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoFaceWarning)  # a face is found: no "no face" warning
        result = embedder.detect(_photo(bright=True))
    assert result.status == "ok" and result.embedding.shape == (1, 512) and result.embedding.dtype == np.float32
    # The embedding is the recognizer's: mean colour of the aligned face (3 numbers in [-1, 1]) @ W + b.
    colour, residual, *_ = np.linalg.lstsq(REC_W.T, result.embedding[0] - REC_B, rcond=None)
    assert residual[0] < 1e-6 * 512 and np.all(np.abs(colour) <= 1.0 + 1e-5) and colour.max() > 0
    x0, y0, x1, y1 = result.box  # the square's stride-32 patches (detector frame scaled by 640/512)
    assert 30 <= x0 < x1 <= 290 and 0 <= y0 < y1 <= 250

    with pytest.warns(NoFaceWarning, match="No face"):
        dark = embedder.detect(_photo(bright=False))
    assert dark.status == "no_face" and not dark.embedding.any()


def test_embedder_with_a_broken_pack_gives_zeros_and_the_reason(tmp_path):
    pack = build_pack(tmp_path / "models" / "antelopev2", rec_dim=128)
    embedder = FaceEmbedder(root=tmp_path)
    result = embedder.detect(_photo(bright=True), warn=False)
    assert result.status == "model_missing" and not result.embedding.any()
    assert result.message == FACE_MODEL_MISSING_WARNING
    assert not embedder.model_status.available and RECOGNIZER in embedder.model_status.message
    assert embedder.pack_dir is None and str(pack) in embedder.model_status.message


def test_every_generation_records_the_face_model(tmp_path, monkeypatch):
    """``settings["face_model"]`` names the model that ran; a missing one is the
    one warning in ``notes`` (tiny pipeline at 64 px, one step)."""
    pytest.importorskip("insightface")
    from mcld.pose_transfer import PoseTransfer, SourceConditions, TargetConditions
    from mcld.tiny import build_tiny_pipeline

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build_pack(tmp_path / "models" / "antelopev2")
    pipe = build_tiny_pipeline(seed=0)
    iuv = np.zeros((512, 352, 3), np.uint8)
    target = TargetConditions(photo=None, people=[], person_index=0, pose=None, iuv=iuv)
    for root, available in ((tmp_path, True), (tmp_path / "empty", False)):
        pt = PoseTransfer(pipe, None, FaceEmbedder(root=root), tiny=True, model_size=64)
        crop = _photo(bright=True)
        embeds, face_status, face_crop, note = pt.face_embedding(crop)
        assert (face_status == "ok") is available and (note is None) is available
        source = SourceConditions(
            photo=None, people=[], person_index=0, crop=crop, crop_info=None, pose=None, iuv=iuv,
            texture=np.zeros((512, 512, 3), np.uint8), face_embeds=embeds, face_status=face_status, face_crop=face_crop,
        )  # fmt: skip
        result = pt.generate(source, target, num_inference_steps=1, seed=0)
        recorded = result.settings["face_model"]
        assert recorded == pt.face_model_status().as_dict() and json.loads(json.dumps(recorded)) == recorded
        assert recorded["available"] is available and recorded["source"] == str(root)
        assert result.notes == ([] if available else [FACE_MODEL_MISSING_WARNING])
        assert note in (None, FACE_MODEL_MISSING_WARNING)


def test_weights_status_lists_the_face_model(tmp_path, monkeypatch):
    from mcld.weights import describe_missing_weights, weights_status

    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.insightface
    monkeypatch.delenv("MCLD_INSIGHTFACE_ROOT", raising=False)
    monkeypatch.delenv("MCLD_INSIGHTFACE_REPO", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub_cache"))  # empty Hub cache
    face = {s.component: s for s in weights_status(cache_dir=tmp_path / "st")}["face_model"]
    assert not face.available and face.location == DEFAULT_ANTELOPEV2_REPO
    assert face.fetch_from == f"{hub_constants.ENDPOINT}/{DEFAULT_ANTELOPEV2_REPO}"
    assert f"face_model: not on disk; will be downloaded from {face.fetch_from}" in describe_missing_weights(cache_dir=tmp_path / "st")

    pack = build_pack(tmp_path / "insightface" / "models" / "antelopev2")
    monkeypatch.setenv("MCLD_INSIGHTFACE_ROOT", str(tmp_path / "insightface"))
    face = {s.component: s for s in weights_status(cache_dir=tmp_path / "st")}["face_model"]
    assert face.available and face.location == str(pack) and face.fetch_from is None
