"""ZeroGPU time requests for the Space (``spaces.GPU(duration=...)``).

ZeroGPU gives a function a GPU for at most the seconds it asks for; asking for
too little aborts the run, asking for much more lowers the visitor's queue
priority. :func:`gpu_duration` turns the request into seconds. All
calibration constants live here.

ZeroGPU runs the function on a slice of an NVIDIA H200 and charges the
visitor's quota for the seconds actually used; ``duration`` is the ceiling
the scheduler plans with (a shorter one gets a better queue place, one that
is too short aborts the run). So the constants err on the long side.

They are **not calibrated by a timing**: no GPU was available to the sessions
that wrote this package, so ``bench/bench_mcld.py`` has not run on one
(``bench/README.md`` says how to calibrate them from its printed ``overhead``
and ``per_step``). They rest on counted FLOPs instead (``bench_mcld.py
--flops-only``): one denoising step at 512x512 with classifier-free guidance
is 1.72 TFLOP, the whole image about 40 TFLOP. ``GPU_SECONDS_PER_STEP = 0.25``
allows 6.9 TFLOP/s for a step, under 1 % of an H200's float16 peak and below
the 9.2 TFLOP/s upstream's float32 code reached on an RTX A6000 (4.46 s per
image). ``GPU_CONDITIONS_S = 6`` allows 3 s per photo for DensePose R-101
(0.57 TFLOP) and the UV texture; ``GPU_OVERHEAD_S = 15`` covers moving about
4.6 GB of float16 weights (2.3 B parameters, all networks) to the GPU on the
first call, plus the VAE encode and decode (1.1 + 2.5 TFLOP) and CLIP.
"""

from __future__ import annotations

__all__ = ["GPU_OVERHEAD_S", "GPU_SECONDS_PER_STEP", "GPU_CONDITIONS_S", "GPU_MAX_S", "GPU_PREVIEW_S", "gpu_duration"]

#: Fixed cost per call: moving weights to the GPU, VAE encode/decode, CLIP.
GPU_OVERHEAD_S = 15.0
#: Seconds per denoising step per image (UNet + ReferenceNet, CFG batch of 2).
GPU_SECONDS_PER_STEP = 0.25
#: DensePose + UV texture for the source and a photo target (the face
#: embedding runs on the CPU, before the GPU function).
GPU_CONDITIONS_S = 6.0
#: One target-pose preview (DensePose on one photo; the app builds the models
#: before calling the GPU function).
GPU_PREVIEW_S = 20
#: ZeroGPU's ceiling for one call.
GPU_MAX_S = 120


def gpu_duration(num_inference_steps: int, num_images: int = 1) -> int:
    """Seconds of GPU to request for one generation call.

    Args:
        num_inference_steps: Denoising steps (1..100).
        num_images: Images generated in the call (the edit handler also
            counts each extra parsing-attention reference as one).

    Returns:
        Whole seconds in ``[1, GPU_MAX_S]``:
        ``overhead + conditions + steps * images * per_step``, rounded up.

    Raises:
        ValueError: non-positive steps or image count.
    """
    steps, images = int(num_inference_steps), int(num_images)
    if steps < 1 or images < 1:
        raise ValueError(f"num_inference_steps and num_images must be >= 1, got {num_inference_steps}, {num_images}")
    seconds = GPU_OVERHEAD_S + GPU_CONDITIONS_S + steps * images * GPU_SECONDS_PER_STEP
    return int(min(GPU_MAX_S, max(1, -(-seconds // 1))))
