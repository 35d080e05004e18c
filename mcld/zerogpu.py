"""ZeroGPU time requests for the Space (``spaces.GPU(duration=...)``).

ZeroGPU gives a function a GPU for at most the seconds it asks for; asking for
too little aborts the run, asking for much more lowers the visitor's queue
priority. :func:`gpu_duration` turns the request into seconds. All
calibration constants live here.

ZeroGPU runs the function on a slice of an NVIDIA H200 and charges the
visitor's quota for the seconds actually used; ``duration`` is the ceiling
the scheduler plans with (a shorter one gets a better queue place, one that
is too short aborts the run). So the constants err on the long side.

They are **not calibrated**: no GPU was available to the sessions that wrote
this package, so ``bench/bench_mcld.py`` has not run on one (``bench/README.md``
says how to calibrate them from its printed ``overhead`` and ``per_step``).
The anchor is the one published measurement: upstream MCLD takes 4.46 s per
image (20 steps, CFG, fp32) on an RTX A6000, i.e. at most about 0.22 s per
step including everything else. ``GPU_SECONDS_PER_STEP = 0.6`` is about 2.7x
that on a slower GPU than an H200 slice, for the float16 fast path that
should be several times faster still. ``GPU_CONDITIONS_S = 6`` allows 3 s per
photo for DensePose R-101 and the UV texture (on 2 CPU cores the full-size
R-101 backbone took 2.8 s, ``bench/README.md``); ``GPU_OVERHEAD_S = 15``
covers moving about 4.6 GB of float16 weights (2.3 B parameters, all networks)
to the GPU on the first call (plus VAE encode/decode and CLIP).
"""

from __future__ import annotations

__all__ = ["GPU_OVERHEAD_S", "GPU_SECONDS_PER_STEP", "GPU_CONDITIONS_S", "GPU_MAX_S", "GPU_PREVIEW_S", "gpu_duration"]

#: Fixed cost per call: moving weights to the GPU, VAE encode/decode, CLIP.
GPU_OVERHEAD_S = 15.0
#: Seconds per denoising step per image (UNet + ReferenceNet, CFG batch of 2).
GPU_SECONDS_PER_STEP = 0.6
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
