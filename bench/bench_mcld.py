"""GPU benchmark of the MCLD pipeline: reference path vs fast path, full-size random weights.

What it measures (one process, same inputs for both paths):

* (a) **reference path**: float32 weights, ``execution_mode="reference"`` (upstream
  semantics as checked by the golden tests: ReferenceNet on the CFG batch,
  float16 bank round trip), TF32 off.
* (b) **fast path**: float16 (or ``--dtype``) weights, ``execution_mode="fast"``
  (bank computed once on the conditional rows, reference K/V projected once),
  batched CFG, SDPA, ``channels_last`` UNets, optional ``torch.compile``
  (``--compile``), TF32 on (DensePose stays float32: its predictor turns
  autocast off, as detectron2's ``DefaultPredictor``; its convolutions use TF32).

For each path: seconds per image end to end (DensePose on the target photo in
given-box mode + the whole pipeline call at ``--size``, ``--steps``, CFG 3.5),
median of ``--runs`` runs after ``--warmup`` warm-up runs; the split between
DensePose, conditions (CLIP x2 + face Resampler + pose guider), ReferenceNet
(VAE encode of the texture + reference UNet), denoising loop and VAE decode
(``torch.cuda.synchronize`` around every stage); peak VRAM
(``torch.cuda.max_memory_allocated``); and the difference of (a) and (b)
(max abs on the final latents, PSNR on the 512x512 images).

DensePose R_101_FPN_DL (our port) has random weights too: the full detector
(backbone + RPN + box head + NMS) is timed separately and the number of boxes
it kept is printed; with random weights its scores mean nothing (on the CPU
it kept 100 boxes, the per-image maximum), so the end-to-end number uses the
given-box path (backbone + DensePose head on one
box), which is what the app runs when MediaPipe already found the person.

Not measured here: MediaPipe pose, human parsing, UV texture building (CPU
side, see ``bench/bench_cpu.py``) and the insightface face embedding (a random
512-d vector is used).

Usage (GPU, full size, the table in bench/README.md)::

    python bench/bench_mcld.py --out bench/results/gpu_h100.json

FLOPs per image of both paths only (``meta`` device, no GPU needed, seconds)::

    python bench/bench_mcld.py --flops-only --out bench/results/flops_512.json

CPU smoke run (proves the script works; numbers are not meaningful)::

    python bench/bench_mcld.py --device cpu --steps 2 --runs 1 --warmup 0 --size 256 --dtype float32
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere (bench only; the package never does this)
    sys.path.insert(0, str(REPO))

from diffusers import AutoencoderKL, DDIMScheduler  # noqa: E402

from mcld.annotators.densepose import DensePoseConfig, DensePosePredictor  # noqa: E402
from mcld.annotators.densepose import TINY_CONFIG as TINY_DENSEPOSE  # noqa: E402
from mcld.annotators.densepose.model import DensePoseRCNN  # noqa: E402
from mcld.models.face_resampler import FaceResampler  # noqa: E402
from mcld.models.pose_guider import PoseGuider  # noqa: E402
from mcld.models.unets import build_denoising_unet, build_reference_unet, load_config  # noqa: E402
from mcld.pipeline_mcld import MCLDPipeline  # noqa: E402

IMAGES = REPO.parent / "shared" / "images"
DTYPES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float32": torch.float32, "fp32": torch.float32}
STAGES = ("densepose", "conditions", "referencenet", "denoising", "vae_decode")

#: ViT-L/14 vision tower of lambdalabs/sd-image-variations-diffusers (facts s2).
CLIP_VIT_L14 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    patch_size=14, image_size=224, projection_dim=768, hidden_act="quick_gelu", num_channels=3)
#: stabilityai/sd-vae-ft-mse (standard SD VAE).
SD_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
              layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=512,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)


# Helpers ------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StageTimer:
    """Accumulates wall-clock seconds per stage, synchronising the device around each stage.

    Args:
        device: The device whose queue is synchronised (CUDA); no-op sync on CPU.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: Dict[str, float] = {}

    def reset(self) -> None:
        """Forget all accumulated times."""
        self.totals = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        """Context manager adding the enclosed time to ``name``."""
        _sync(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start

    def wrap(self, name: str, fn: Callable) -> Callable:
        """Return ``fn`` timed under ``name``."""

        def timed(*args, **kwargs):
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed


def instrument(pipe: MCLDPipeline, timer: StageTimer) -> Dict[str, Any]:
    """Time the pipeline's stages by wrapping its step methods on the instance.

    ``encode_clip_image``/``encode_face``/``pose_guider`` -> ``conditions``;
    ``encode_reference`` (VAE encode + ReferenceNet) -> ``referencenet``;
    ``decode_latents`` -> ``vae_decode``; every denoising-UNet call ->
    ``unet_calls``. The denoising loop is the pipeline total minus the other stages.

    Returns:
        The replaced instance attributes, for :func:`uninstrument`.
    """
    targets = [(pipe, "encode_clip_image", "conditions"), (pipe, "encode_face", "conditions"),
               (pipe.pose_guider, "forward", "conditions"), (pipe, "encode_reference", "referencenet"),
               (pipe, "decode_latents", "vae_decode"), (pipe.denoising_unet, "forward", "unet_calls")]
    saved = {}
    for obj, attr, stage in targets:
        saved[(id(obj), attr)] = (obj, attr, obj.__dict__.get(attr))  # e.g. a torch.compile'd forward
        setattr(obj, attr, timer.wrap(stage, getattr(obj, attr)))
    return saved


def uninstrument(saved: Dict[Any, Any]) -> None:
    """Undo :func:`instrument` (restores e.g. a compiled ``forward``)."""
    for obj, attr, previous in saved.values():
        if previous is None:
            obj.__dict__.pop(attr, None)
        else:
            setattr(obj, attr, previous)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two float images in ``[0, 1]``."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Model building -------------------------------------------------------------------


def build_models(device: torch.device, dtype: torch.dtype, tiny: bool = False) -> Dict[str, Any]:
    """Full-size (or ``tiny``) MCLD components with random weights, built directly on ``device`` in ``dtype``.

    Construction happens under ``torch.device(device)`` with ``dtype`` as the
    default dtype, so no CPU copy and no float32 copy of a float16 model is
    ever made. Random initialisation is the modules' default (speed does not
    depend on weight values).

    Returns:
        ``{"pipe": MCLDPipeline, "densepose": DensePosePredictor, "sizes": {name: params}}``.
    """
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if tiny:
                from mcld.tiny import build_tiny_pipeline
                pipe = build_tiny_pipeline(device=device, torch_dtype=dtype)
                dp_model = DensePoseRCNN(TINY_DENSEPOSE)
            else:
                unet_cfg = load_config("sd15_unet_config.json")
                resampler_cfg = {k: v for k, v in load_config("face_resampler_config.json").items() if not k.startswith("_")}
                pose_cfg = {k: v for k, v in load_config("pose_guider_config.json").items() if not k.startswith("_")}
                modules = dict(
                    vae=AutoencoderKL(**SD_VAE),
                    image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VIT_L14)),
                    reference_unet=build_reference_unet(unet_cfg, device=device),
                    denoising_unet=build_denoising_unet(unet_cfg, device=device),
                    pose_guider=PoseGuider(**pose_cfg),
                    face_resampler=FaceResampler(**resampler_cfg),
                )
                for module in modules.values():
                    module.eval().requires_grad_(False)
                scheduler = DDIMScheduler.from_config(load_config("ddim_scheduler_config.json"))
                pipe = MCLDPipeline(scheduler=scheduler, **modules)
                dp_model = DensePoseRCNN(DensePoseConfig.from_name("R_101_FPN_DL_s1x"))
    finally:
        torch.set_default_dtype(previous)
    pipe.set_progress_bar_config(disable=True)
    pipe.to_device_dtype(device, dtype)
    # DensePose holds float32 weights (FrozenBN buffers, box maths) and runs in float32 in both paths.
    densepose = DensePosePredictor(dp_model.float().to(device).requires_grad_(False))
    sizes = {name: _params(getattr(pipe, name)) for name in
             ("reference_unet", "denoising_unet", "image_encoder", "vae", "face_resampler", "pose_guider")}
    sizes["densepose"] = _params(dp_model)
    return {"pipe": pipe, "densepose": densepose, "sizes": sizes}


# Inputs ---------------------------------------------------------------------------


def load_inputs(size: int, seed: int = 0) -> Dict[str, Any]:
    """Fixed inputs: a real photo as source and target (if ``../shared/images`` exists), a texture map, a face vector.

    The texture map is the source photo squashed to 512x512 (its content does
    not change speed); the target IUV comes from DensePose at run time.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = sorted(IMAGES.glob("reference_img_*.png")) if IMAGES.is_dir() else []
    if photos:
        source = Image.open(photos[0]).convert("RGB")
        target = Image.open(photos[min(1, len(photos) - 1)]).convert("RGB")
    else:
        source = Image.fromarray(rng.integers(0, 256, (512, 352, 3), dtype=np.uint8))
        target = Image.fromarray(rng.integers(0, 256, (512, 352, 3), dtype=np.uint8))
    target = target.resize((352, 512), Image.BICUBIC)  # the app's 176:256 crop at 512 px
    width, height = target.size
    return {
        "source": source,
        "texture": source.resize((512, 512), Image.BICUBIC),
        "target": np.asarray(target),
        "target_box": np.array([[0.1 * width, 0.05 * height, 0.9 * width, 0.95 * height]], np.float32),
        "face_embeds": rng.standard_normal((1, 512)).astype(np.float32) * 20.0,
        "size": size,
        "source_name": photos[0].name if photos else "random",
    }


def iuv_image(result, shape) -> "Any":
    """DensePose result -> the pipeline's IUV PIL image (R=V, G=U, B=I); black if no box."""
    from PIL import Image

    from mcld.pose_transfer import iuv_to_pipeline_image

    iuv = result.to_iuv(0) if len(result.boxes) else np.zeros((*shape[:2], 3), np.uint8)
    return iuv_to_pipeline_image(iuv) if len(result.boxes) else Image.fromarray(iuv)


# Runs -----------------------------------------------------------------------------


def run_once(pipe, densepose, inputs, args, mode: str, timer: StageTimer):
    """One end-to-end image: DensePose (given box) + pipeline call. Returns (seconds, stages, output)."""
    device = pipe._execution_device
    timer.reset()
    _sync(device)
    start = time.perf_counter()
    with timer.stage("densepose"):
        dp = densepose.detect(inputs["target"], boxes=inputs["target_box"])
    target_iuv = iuv_image(dp, inputs["target"].shape)
    with timer.stage("pipeline"):
        out = pipe(
            source_image=inputs["source"], texture_map=inputs["texture"], target_iuv=target_iuv,
            face_embeds=inputs["face_embeds"], num_inference_steps=args.steps, guidance_scale=args.guidance_scale,
            height=args.size, width=args.size, generator=torch.Generator().manual_seed(args.seed),
            output_type="np", execution_mode=mode,
        )
    _sync(device)
    total = time.perf_counter() - start
    stages = dict(timer.totals)
    stages["denoising"] = stages["pipeline"] - sum(stages.get(k, 0.0) for k in ("conditions", "referencenet", "vae_decode"))
    return total, stages, out


def bench_path(name: str, pipe, densepose, inputs, args, mode: str) -> Dict[str, Any]:
    """Warm up, then time ``args.runs`` end-to-end runs; medians per stage and peak memory."""
    device = pipe._execution_device
    timer = StageTimer(device)
    saved = instrument(pipe, timer)
    try:
        for i in range(args.warmup):
            t, _, _ = run_once(pipe, densepose, inputs, args, mode, timer)
            print(f"  [{name}] warm-up {i + 1}/{args.warmup}: {t:.3f} s", flush=True)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        totals, per_stage, out = [], {k: [] for k in (*STAGES, "unet_calls")}, None
        for i in range(args.runs):
            t, stages, out = run_once(pipe, densepose, inputs, args, mode, timer)
            totals.append(t)
            for k in per_stage:
                per_stage[k].append(stages.get(k, 0.0))
            print(f"  [{name}] run {i + 1}/{args.runs}: {t:.3f} s", flush=True)
    finally:
        uninstrument(saved)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    medians = {k: statistics.median(v) for k, v in per_stage.items()}
    return {
        "name": name, "mode": mode, "dtype": str(pipe.denoising_unet.dtype).replace("torch.", ""),
        "seconds_per_image": statistics.median(totals), "runs_s": totals, "stages_s": medians,
        "per_step_s": medians["denoising"] / args.steps, "unet_call_s": medians["unet_calls"] / args.steps,
        "peak_vram_gib": peak, "latents": out.latents.float().cpu(), "images": out.images,
    }


def bench_densepose_detector(densepose, inputs, args) -> Dict[str, Any]:
    """Full detector mode (no boxes): backbone, RPN + box head + NMS, separately; boxes kept."""
    from mcld.annotators.densepose.predictor import preprocess_image

    device = densepose.device
    model = densepose.model
    x, (h, w), _ = preprocess_image(inputs["target"], model.cfg)
    x = x.to(device)
    backbone, detect, full, kept = [], [], [], 0
    with torch.inference_mode():
        for i in range(args.warmup + args.runs):
            _sync(device)
            t0 = time.perf_counter()
            features = model.features(x)
            _sync(device)
            t1 = time.perf_counter()
            det = model.detect(features, (h, w))
            _sync(device)
            t2 = time.perf_counter()
            result = densepose.detect(inputs["target"])
            _sync(device)
            t3 = time.perf_counter()
            if i >= args.warmup:
                backbone.append(t1 - t0)
                detect.append(t2 - t1)
                full.append(t3 - t2)
                kept = int(det["boxes"].shape[0])
    return {"backbone_s": statistics.median(backbone), "rpn_boxhead_nms_s": statistics.median(detect),
            "full_detector_call_s": statistics.median(full), "boxes_kept": kept,
            "input_hw": [int(x.shape[-2]), int(x.shape[-1])], "result_boxes": len(result.boxes)}


# FLOPs ------------------------------------------------------------------------------

#: Datasheet peaks of an H100 SXM (dense, no sparsity), TFLOP/s: float32 on CUDA
#: cores (the reference path runs with TF32 off) and float16/bfloat16 on tensor cores.
H100_PEAK_TFLOPS = {"float32": 67.0, "float16": 989.0}


class _LastStepDone(Exception):
    """Raised from the step callback to end a FLOP-counting run before decoding."""


def count_flops(args) -> Dict[str, Any]:
    """FLOPs per image of each path, counted, not timed.

    ``torch.utils.flop_counter.FlopCounterMode`` counts the matrix
    multiplications, convolutions and attention of a pipeline call on the
    ``meta`` device (shapes only: no memory, no compute, seconds on any
    machine; ``--tiny`` models on the CPU). Each path runs with 1 and with 2 denoising steps: their
    difference is the per-step cost, the rest the fixed cost (CLIP x2, face
    Resampler, pose guider, VAE encode, ReferenceNet). The VAE decode is
    counted on ``meta`` too; DensePose (given-box mode, the target photo) on
    the CPU, since its post-processing needs values.

    Returns:
        ``{"paths": {mode: {"fixed", "per_step", "vae_decode", "densepose", "total"}}, ...}``
        in FLOPs (multiply-add = 2 FLOPs), ``total`` at ``args.steps`` steps.
    """
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device("cpu" if args.tiny else "meta")  # tiny weights are random values: real tensors
    pipe = build_models(device, torch.float32, tiny=args.tiny)["pipe"]
    # diffusers' DDIM step compares a timestep with 0 on the host, which meta
    # tensors cannot do: keep the (tiny) schedule on the CPU.
    set_timesteps = pipe.scheduler.set_timesteps
    pipe.scheduler.set_timesteps = lambda n, device=None, **kw: set_timesteps(n, device="cpu", **kw)
    inputs = load_inputs(args.size, args.seed)
    iuv = Image.new("RGB", (args.size, args.size))  # its content does not change the FLOPs

    def pipeline_flops(mode: str, steps: int) -> int:
        def stop(_pipe, i, _t, _kwargs):
            if i == steps - 1:  # meta latents have no values: end before the finiteness check
                raise _LastStepDone
            return {}

        with FlopCounterMode(display=False) as counter:
            try:
                pipe(source_image=inputs["source"], texture_map=inputs["texture"], target_iuv=iuv,
                     face_embeds=inputs["face_embeds"], num_inference_steps=steps,
                     guidance_scale=args.guidance_scale, height=args.size, width=args.size,
                     generator=torch.Generator().manual_seed(args.seed), output_type="latent",
                     execution_mode=mode, callback_on_step_end=stop)
            except _LastStepDone:
                pass
        return counter.get_total_flops()

    with FlopCounterMode(display=False) as counter:
        pipe.vae.decode(torch.zeros(1, 4, args.size // 8, args.size // 8, device=device))
    vae_decode = counter.get_total_flops()
    config = TINY_DENSEPOSE if args.tiny else DensePoseConfig.from_name("R_101_FPN_DL_s1x")
    densepose = DensePosePredictor(DensePoseRCNN(config).eval().requires_grad_(False))
    with FlopCounterMode(display=False) as counter:
        densepose.detect(inputs["target"], boxes=inputs["target_box"])
    densepose_flops = counter.get_total_flops()

    paths = {}
    for mode in ("reference", "fast"):
        one, two = pipeline_flops(mode, 1), pipeline_flops(mode, 2)
        per_step, fixed = two - one, 2 * one - two
        total = fixed + args.steps * per_step + vae_decode + densepose_flops
        paths[mode] = {"fixed": fixed, "per_step": per_step, "vae_decode": vae_decode,
                       "densepose": densepose_flops, "total": total}
    return {"paths": paths, "counted_on": device.type, "steps": args.steps, "size": args.size, "guidance_scale": args.guidance_scale,
            "densepose_input_hw": list(inputs["target"].shape[:2]), "h100_peak_tflops": H100_PEAK_TFLOPS}


def flops_table(flops: Dict[str, Any]) -> str:
    """Counted TFLOPs per image and the time they take at the H100's datasheet peak."""
    peak = flops["h100_peak_tflops"]
    lines = [f"| path | fixed | per step | x {flops['steps']} steps | VAE decode | DensePose | per image | "
             "at H100 peak |", "|" + "---|" * 8]
    for mode, dtype in (("reference", "float32"), ("fast", "float16")):
        f = {k: v / 1e12 for k, v in flops["paths"][mode].items()}
        lines.append(f"| ({'a' if mode == 'reference' else 'b'}) {mode}, {dtype} | {f['fixed']:.3f} | {f['per_step']:.3f} | "
                     f"{f['per_step'] * flops['steps']:.2f} | {f['vae_decode']:.3f} | {f['densepose']:.3f} | "
                     f"{f['total']:.2f} | {f['total'] / peak[dtype]:.3f} s at {peak[dtype]:.0f} TFLOP/s |")
    return "\n".join(lines)


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(results: List[Dict[str, Any]]) -> str:
    """The per-path table: end to end, stages, per step, peak VRAM."""
    head = ("| path | dtype | s/image | DensePose | conditions | ReferenceNet | denoising loop | "
            "per step | VAE decode | peak VRAM GiB |")
    lines = [head, "|" + "---|" * 10]
    for r in results:
        s = r["stages_s"]
        lines.append(
            f"| {r['name']} | {r['dtype']} | {_fmt(r['seconds_per_image'])} | {_fmt(s['densepose'])} | "
            f"{_fmt(s['conditions'])} | {_fmt(s['referencenet'])} | {_fmt(s['denoising'])} | "
            f"{_fmt(r['per_step_s'], 4)} | {_fmt(s['vae_decode'])} | {_fmt(r['peak_vram_gib'], 2)} |"
        )
    return "\n".join(lines)


def zerogpu_calibration(fast: Dict[str, Any], args) -> Dict[str, Any]:
    """Constants of ``duration = overhead + steps * per_step * images * margin`` from the fast path.

    ``overhead`` = everything but the loop (DensePose, conditions, ReferenceNet,
    VAE decode) for one image, plus ``--zerogpu-transfer`` seconds for ZeroGPU
    attaching the GPU and moving the weights; ``margin`` = ``--zerogpu-margin``.
    """
    s = fast["stages_s"]
    fixed = s["densepose"] + s["conditions"] + s["referencenet"] + s["vae_decode"]
    overhead = fixed + args.zerogpu_transfer
    per_step = fast["per_step_s"]
    example = overhead + 20 * per_step * 1 * args.zerogpu_margin
    return {"overhead_s": overhead, "fixed_stages_s": fixed, "transfer_s": args.zerogpu_transfer,
            "per_step_s": per_step, "margin": args.zerogpu_margin, "example_20_steps_1_image_s": example,
            "measured_at": f"{args.size}x{args.size}, {fast['dtype']}"}


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line flags (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--runs", type=int, default=5, help="timed runs per path (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per path first")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=512, help="square model resolution (multiple of 64)")
    p.add_argument("--guidance-scale", type=float, default=3.5)
    p.add_argument("--dtype", default=None, help="fast-path dtype: float16 (CUDA default), bfloat16, float32 (CPU default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the denoising UNet in the fast path")
    p.add_argument("--no-channels-last", action="store_true", help="fast path without channels_last (always off on CPU)")
    p.add_argument("--paths", default="reference,fast", help="comma list of: reference, fast")
    p.add_argument("--tiny", action="store_true", help="tiny random models (smoke test only)")
    p.add_argument("--skip-detector", action="store_true", help="do not time DensePose's full detector mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zerogpu-margin", type=float, default=1.5)
    p.add_argument("--zerogpu-transfer", type=float, default=5.0,
                   help="seconds added to the ZeroGPU overhead for GPU attach + weight transfer")
    p.add_argument("--flops-only", action="store_true",
                   help="only count FLOPs per image (meta device; runs anywhere in seconds), no timing")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> Dict[str, Any]:
    """Run the benchmark; print the markdown tables; optionally write JSON."""
    args = parse_args(argv)
    device = torch.device(args.device)
    fast_dtype = DTYPES[args.dtype] if args.dtype else (torch.float16 if device.type == "cuda" else torch.float32)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# MCLD benchmark {_dt.date.today()} on {gpu}; torch {torch.__version__}; "
          f"{'tiny' if args.tiny else 'full-size'} random weights; {args.size}x{args.size}, {args.steps} steps, "
          f"CFG {args.guidance_scale}, {args.runs} runs after {args.warmup} warm-up", flush=True)

    t0 = time.perf_counter()
    flops = count_flops(args)
    print(f"\nFLOPs per image (counted on the {flops['counted_on']} device in {time.perf_counter() - t0:.1f} s; TFLOP):\n"
          + flops_table(flops), flush=True)
    if args.flops_only:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"date": str(_dt.date.today()), "torch": torch.__version__,
                                                  "args": vars(args), "flops": flops}, indent=2))
            print(f"wrote {args.out}")
        return {"flops": flops}

    inputs = load_inputs(args.size, args.seed)
    first_dtype = torch.float32 if "reference" in paths else fast_dtype
    t0 = time.perf_counter()
    built = build_models(device, first_dtype, tiny=args.tiny)
    pipe, densepose = built["pipe"], built["densepose"]
    print(f"built models in {time.perf_counter() - t0:.1f} s ({first_dtype}); params: "
          + ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in built["sizes"].items()), flush=True)
    if device.type == "cuda":
        print(f"weights resident: {torch.cuda.memory_allocated(device) / 2**30:.2f} GiB", flush=True)

    results, detector = [], {}
    if "reference" in paths:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        results.append(bench_path("(a) reference", pipe, densepose, inputs, args, "reference"))
        if not args.skip_detector:
            detector["reference"] = bench_densepose_detector(densepose, inputs, args)
    if "fast" in paths:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if pipe.denoising_unet.dtype != fast_dtype:
            pipe.to_device_dtype(device, fast_dtype)  # in place: the float32 storage is released
            if device.type == "cuda":
                torch.cuda.empty_cache()
        # channels_last helps cuDNN convolutions in half precision; on CPU it made the UNets slower.
        channels_last = not args.no_channels_last and device.type == "cuda"
        pipe.enable_fast_path(channels_last=channels_last, compile_unet=args.compile)
        results.append(bench_path("(b) fast" + (" +compile" if args.compile else ""), pipe, densepose, inputs,
                                  args, "fast"))
        if not args.skip_detector:
            detector["fast"] = bench_densepose_detector(densepose, inputs, args)

    print()
    print(markdown_table(results))
    summary: Dict[str, Any] = {}
    if len(results) == 2:
        a, b = results
        lat_diff = float((a["latents"] - b["latents"]).abs().max())
        image_psnr = psnr(a["images"], b["images"])
        speedup = a["seconds_per_image"] / b["seconds_per_image"]
        summary.update(max_abs_latents=lat_diff, psnr_db=image_psnr, speedup=speedup)
        print(f"\n(a) vs (b): max |latents_a - latents_b| = {lat_diff:.4g}; image PSNR = {image_psnr:.2f} dB; "
              f"speed-up {speedup:.2f}x")
    for key, d in detector.items():
        print(f"DensePose full detector ({key}): backbone {d['backbone_s']:.3f} s, RPN+box head+NMS "
              f"{d['rpn_boxhead_nms_s']:.3f} s, whole call {d['full_detector_call_s']:.3f} s on {d['input_hw']} "
              f"input; boxes kept with random weights: {d['boxes_kept']}")
    fast = next((r for r in results if r["mode"] == "fast"), None)
    if fast is not None:
        z = zerogpu_calibration(fast, args)
        summary["zerogpu"] = z
        print(f"\nZeroGPU: duration = overhead + steps * per_step * images * margin\n"
              f"  overhead = {z['fixed_stages_s']:.3f} s (DensePose + conditions + ReferenceNet + VAE decode) "
              f"+ {z['transfer_s']:.1f} s (attach/transfer) = {z['overhead_s']:.2f} s\n"
              f"  per_step = {z['per_step_s']:.4f} s ({z['measured_at']}), margin = {z['margin']}\n"
              f"  20 steps, 1 image: {z['example_20_steps_1_image_s']:.2f} s")
    if args.out:
        record = {
            "date": str(_dt.date.today()), "device": gpu, "torch": torch.__version__, "args": vars(args),
            "params": built["sizes"], "detector": detector, "summary": summary, "flops": flops,
            "paths": [{k: v for k, v in r.items() if k not in ("latents", "images")} for r in results],
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2))
        print(f"wrote {args.out}")
    return {"results": results, "summary": summary, "detector": detector, "flops": flops}


if __name__ == "__main__":
    main()
