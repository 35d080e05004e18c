"""Weight loading: full-size key maps, strict checks, corrupt files, safetensors cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from mcld.errors import CheckpointError, WeightsNotFoundError
from mcld.models import FaceResampler, PoseGuider, build_denoising_unet, build_reference_unet
from mcld.models.unets import load_config
from mcld.pipeline_mcld import MCLDPipeline
from mcld.tiny import load_pipeline_from_upstream_folder
from mcld.weights import (
    check_state_dict,
    describe_missing_weights,
    load_component_weights,
    read_state_dict,
    resolve_checkpoint,
    weights_status,
)
from tests.helpers.fake_hub import FakeHub, folder_files
from tests.helpers.forked_python import ForkedPython


def _keys(path):
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            name, shape = line.split("\t")[:2]
            out[name] = tuple(int(x) for x in shape.strip("[]").split(", ") if x)
    return out


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def full_keys(shared_dir):
    folder = shared_dir / "golden" / "mcld_full_keys"
    summary = json.loads((folder / "summary.json").read_text())
    return folder, summary


def test_full_size_modules_match_upstream_key_lists(full_keys):
    """The released checkpoints' key lists map onto our full-size modules built on
    the meta device: no missing or unexpected key, identical shapes."""
    folder, summary = full_keys
    config = load_config("sd15_unet_config.json")
    for key, value in summary["sd15_unet_config_used"].items():
        assert config[key] == value, key
    with torch.device("meta"):
        modules = {
            "reference_unet": build_reference_unet(config, device="meta"),
            "denoising_unet": build_denoising_unet(config, device="meta"),
            "pose_guider": PoseGuider(**{k: v for k, v in load_config("pose_guider_config.json").items() if k[0] != "_"}),
            "image_proj_model": FaceResampler(**{k: v for k, v in load_config("face_resampler_config.json").items() if k[0] != "_"}),
        }
    for name, module in modules.items():
        expected = _keys(folder / f"keys_full_{name}.txt")
        ours = _shapes(module)
        assert sorted(set(expected) - set(ours)) == [], f"{name}: missing"
        assert sorted(set(ours) - set(expected)) == [], f"{name}: unexpected"
        assert {k for k in ours if ours[k] != expected[k]} == set(), f"{name}: shapes"
        assert len(ours) == summary[name]["n_keys"]
        assert sum(torch.Size(s).numel() for s in ours.values()) == summary[name]["n_params"]


def test_strict_check_names_every_problem(mcld_golden_dir):
    module = PoseGuider(conditioning_embedding_channels=32)
    state = read_state_dict(mcld_golden_dir / "pose_guider.pth")
    state.pop("blocks.3.bias")
    state["extra.weight"] = torch.zeros(1)
    state["conv_out.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError, match="The weight file pose_guider.pth does not match the pose_guider model") as info:
        check_state_dict("pose_guider", module, state, source="pose_guider.pth")
    text = str(info.value)
    assert "blocks.3.bias" in text and "extra.weight" in text and "conv_out.bias: file (7,) vs model (32,)" in text
    assert "pose_guider.pth" in info.value.user_message


def test_reference_unet_accepts_only_the_documented_unused_head(mcld_golden_dir):
    config = load_config(mcld_golden_dir / "unet_config.json")
    module = build_reference_unet(config)
    state = read_state_dict(mcld_golden_dir / "reference_unet.pth")
    state["conv_out.weight"] = torch.zeros(4, 32, 3, 3)  # a stock SD UNet head: allowed, dropped
    from mcld.weights import ALLOWED_UNUSED_KEYS

    kept = check_state_dict("reference_unet", module, state, ALLOWED_UNUSED_KEYS["reference_unet"])
    assert "conv_out.weight" not in kept
    state["conv_in.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="conv_in.extra"):
        check_state_dict("reference_unet", module, state, ALLOWED_UNUSED_KEYS["reference_unet"])


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncated", "pose_guider.pth is corrupt or truncated"),
        ("empty", "pose_guider.pth is empty"),
        ("garbage", "pose_guider.pth is corrupt or truncated"),
        ("not_a_state_dict", "pose_guider.pth holds no weights"),
    ],
)
def test_corrupt_files_raise_checkpoint_error(tmp_path, mcld_golden_dir, damage, message):
    path = tmp_path / "pose_guider.pth"
    data = (mcld_golden_dir / "pose_guider.pth").read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint" * 100)
    else:
        torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match=message) as info:
        read_state_dict(path)
    assert info.value.user_message


def test_file_names_and_missing_files(tmp_path, mcld_golden_dir):
    shutil.copy(mcld_golden_dir / "image_proj_model.pth", tmp_path / "image_projector.pth")  # README name
    assert resolve_checkpoint("face_resampler", tmp_path).name == "image_projector.pth"
    with pytest.raises(WeightsNotFoundError, match="The MCLD weight file denoising_unet.pth was not found in the weights folder") as info:
        resolve_checkpoint("denoising_unet", tmp_path)
    assert "denoising_unet.pth" in info.value.user_message
    lines = describe_missing_weights(tmp_path, vae=tmp_path / "vae", image_encoder=tmp_path / "enc")
    assert any(line.startswith("denoising_unet:") and "cannot be downloaded" in line for line in lines)
    assert not any(line.startswith("face_resampler") for line in lines)
    assert {s.component for s in weights_status(tmp_path)} >= {"denoising_unet", "vae", "image_encoder"}


def test_hub_source_offline(tmp_path):
    """Offline (HF_HUB_OFFLINE=1 in tests) a Hub id fails with a clear message,
    and the start-up report says where each file would come from."""
    with pytest.raises(WeightsNotFoundError, match="The MCLD weight file pose_guider.pth could not be downloaded from Lotior/mcld") as info:
        resolve_checkpoint("pose_guider", "Lotior/mcld", local_files_only=True)
    assert "Lotior/mcld" in info.value.user_message
    lines = describe_missing_weights("Lotior/mcld", cache_dir=tmp_path)
    assert "pose_guider: not on disk; will be downloaded from https://huggingface.co/Lotior/mcld" in lines


def test_safetensors_cache_is_written_and_preferred(tmp_path, mcld_golden_dir):
    folder, cache = tmp_path / "weights", tmp_path / "cache"
    folder.mkdir()
    shutil.copy(mcld_golden_dir / "pose_guider.pth", folder / "pose_guider.pth")
    original = read_state_dict(folder / "pose_guider.pth")

    first = load_component_weights("pose_guider", PoseGuider(conditioning_embedding_channels=32), folder, cache_dir=cache)
    cached = list(cache.rglob("pose_guider.safetensors"))
    assert len(cached) == 1
    (folder / "pose_guider.pth").unlink()  # later loads need no pickle at all
    second = load_component_weights("pose_guider", PoseGuider(conditioning_embedding_channels=32), folder, cache_dir=cache)
    for key, value in original.items():
        assert torch.equal(first.state_dict()[key], value) and torch.equal(second.state_dict()[key], value)

    # A changed source file makes the cache stale: the new weights are used.
    changed = {k: v + 1 for k, v in original.items()}
    torch.save(changed, folder / "pose_guider.pth")
    import os

    os.utime(folder / "pose_guider.pth", (1, 1))
    third = load_component_weights("pose_guider", PoseGuider(conditioning_embedding_channels=32), folder, cache_dir=cache)
    assert torch.equal(third.state_dict()["conv_in.bias"], changed["conv_in.bias"])

    # float16 conversion option; a corrupt cache file is ignored with a warning.
    half = load_component_weights(
        "pose_guider", PoseGuider(conditioning_embedding_channels=32), folder, cache_dir=cache, fp16_cache=True
    )
    assert half.conv_in.weight.dtype == torch.float32  # module keeps its dtype; the file is float16
    fp16_file = next(cache.rglob("pose_guider.fp16.safetensors"))
    assert read_state_dict(fp16_file)["conv_in.weight"].dtype == torch.float16
    cached[0].write_bytes(b"broken")
    with pytest.warns(UserWarning, match="unusable cached weights"):
        load_component_weights("pose_guider", PoseGuider(conditioning_embedding_channels=32), folder, cache_dir=cache)


def test_from_mcld_checkpoints_local_folder_matches_upstream_folder_loader(tmp_path, mcld_golden_dir, mcld_manifest):
    """``from_mcld_checkpoints`` on a local folder (meta-device build, strict loading,
    safetensors conversion) gives the same pipeline as the folder loader."""
    pipe = MCLDPipeline.from_mcld_checkpoints(
        mcld_golden_dir,
        vae=mcld_golden_dir / "vae",
        image_encoder=mcld_golden_dir / "image_encoder",
        pose_guider_config=mcld_manifest["modules"]["pose_guider"]["kwargs"],
        face_resampler_config=mcld_manifest["modules"]["image_proj_model"]["kwargs"],
        cache_dir=tmp_path,
    )
    assert len(list(tmp_path.rglob("*.safetensors"))) == 4
    other = load_pipeline_from_upstream_folder(mcld_golden_dir)
    for name in ("reference_unet", "denoising_unet", "pose_guider", "face_resampler"):
        mine, theirs = getattr(pipe, name).state_dict(), getattr(other, name).state_dict()
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), name
    assert pipe.execution_mode == "reference"
    assert pipe.scheduler.config.prediction_type == "v_prediction" and pipe.scheduler.config.rescale_betas_zero_snr


def test_cache_key_includes_subfolder(tmp_path, mcld_golden_dir):
    """Two checkpoints in subfolders of one source get separate conversions
    (same file size and mtime: the staleness check alone cannot tell them apart)."""
    import os

    from mcld.weights import _cache_slug

    root, cache = tmp_path / "weights", tmp_path / "cache"
    original = read_state_dict(mcld_golden_dir / "pose_guider.pth")
    for sub, offset in (("a", 0.0), ("b", 1.0)):
        (root / sub).mkdir(parents=True)
        torch.save({k: v + offset for k, v in original.items()}, root / sub / "pose_guider.pth")
        os.utime(root / sub / "pose_guider.pth", (1_000_000, 1_000_000))
    loaded = {
        sub: load_component_weights(
            "pose_guider", PoseGuider(conditioning_embedding_channels=32), root, subfolder=sub, cache_dir=cache
        )
        for sub in ("a", "b")
    }
    assert torch.equal(loaded["a"].conv_in.bias, original["conv_in.bias"])
    assert torch.equal(loaded["b"].conv_in.bias, original["conv_in.bias"] + 1)
    assert len(list(cache.rglob("pose_guider.safetensors"))) == 2
    assert _cache_slug("Lotior/mcld", "v2") != _cache_slug("Lotior/mcld")


HUB_LOAD_SCRIPT = """
import json, sys
from mcld.pipeline_mcld import MCLDPipeline
folder, vae, encoder, configs, cache, local = sys.argv[1:]
configs = json.loads(configs)
pipe = MCLDPipeline.from_mcld_checkpoints(
    folder, vae=vae, image_encoder=encoder, pose_guider_config=configs["pose_guider"],
    face_resampler_config=configs["image_proj_model"], cache_dir=cache, local_files_only=local == "1",
)
print(json.dumps({"vae": pipe.vae.encoder.conv_in.bias.tolist(),
                  "image_encoder": pipe.image_encoder.visual_projection.weight[0].tolist()}))
"""


def test_from_mcld_checkpoints_passes_local_files_only_to_vae_and_encoder(tmp_path, mcld_golden_dir, mcld_manifest):
    """With ``local_files_only=True`` the VAE and the image encoder (Hub ids) come
    from the Hub cache without a single request; without it they are fetched.

    The two repositories are served by a loopback fake Hub (``tests.helpers.fake_hub``)
    holding the tiny golden VAE and encoder; each load runs in a fresh process
    with ``HF_ENDPOINT`` pointing at it and downloads allowed (``HF_HUB_OFFLINE=0``):
    both are children forked from one interpreter that imported ``mcld.pipeline_mcld``
    under that environment and ran nothing else (``tests.helpers.forked_python``).
    """
    from diffusers import AutoencoderKL
    from transformers import CLIPVisionModelWithProjection

    vae_repo, encoder_repo = "fake-org/sd-vae", "fake-org/image-variations"
    hub = FakeHub({
        vae_repo: folder_files(mcld_golden_dir / "vae"),
        encoder_repo: folder_files(mcld_golden_dir / "image_encoder", prefix="image_encoder/"),
    })  # fmt: skip
    configs = json.dumps({k: mcld_manifest["modules"][k]["kwargs"] for k in ("pose_guider", "image_proj_model")})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE", "TRANSFORMERS_OFFLINE"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))  # fmt: skip

    python = ForkedPython(env, preload=["mcld.pipeline_mcld"])

    def load(local_files_only: bool):
        args = [str(mcld_golden_dir), vae_repo, encoder_repo, configs, str(tmp_path / "cache"), "1" if local_files_only else "0"]
        return python.run(HUB_LOAD_SCRIPT, *args)

    try:
        fetched = load(local_files_only=False)  # the same call may download: both repos are fetched
        assert fetched.returncode == 0, fetched.stderr[-3000:]
        asked = {repo for repo in (vae_repo, encoder_repo) for r in hub.requests if r.startswith(f"GET /{repo}/resolve/")}
        assert asked == {vae_repo, encoder_repo}, hub.requests
        hub.requests.clear()
        cached = load(local_files_only=True)  # now cached: loads without any request (no revalidation either)
        assert cached.returncode == 0, cached.stderr[-3000:]
        assert hub.requests == []
    finally:
        python.close()
        hub.close()
    got = json.loads(cached.stdout.strip().splitlines()[-1])
    assert got == json.loads(fetched.stdout.strip().splitlines()[-1])
    vae = AutoencoderKL.from_pretrained(mcld_golden_dir / "vae")
    encoder = CLIPVisionModelWithProjection.from_pretrained(mcld_golden_dir / "image_encoder")
    assert got["vae"] == vae.encoder.conv_in.bias.tolist()
    assert got["image_encoder"] == encoder.visual_projection.weight[0].tolist()


def test_weights_status_counts_the_float16_conversion(tmp_path, monkeypatch):
    from mcld.weights import _cached_safetensors

    cached = _cached_safetensors("pose_guider", "Lotior/mcld", tmp_path, fp16=True)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    status = {s.component: s for s in weights_status("Lotior/mcld", cache_dir=tmp_path)}
    assert status["pose_guider"].available and status["pose_guider"].location == str(cached)
    assert not status["denoising_unet"].available
