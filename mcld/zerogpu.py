"""ZeroGPU facts and time requests for the Space (``spaces.GPU(duration=...)``).

**Which GPU.** The constants assume ZeroGPU's default size, ``large``: "Half
NVIDIA RTX Pro 6000 Blackwell", 48 GB (hub-docs ``docs/hub/spaces-zerogpu.md``,
*Technical Specifications*, since commit e7d53f5 "[ZeroGPU] Blackwell update",
May 2026, unchanged in the July 2026 version 34ee0f0; it replaced the "Nvidia
H200 slice, 70GB" of earlier versions). The full card has 188 SMs (``spaces``
0.51.3 ``zero/configs.json``), so ``large`` is about 94; NVIDIA announced the
full card at up to 125 TFLOP/s float32 on its CUDA cores (GTC 2025).

**What a request means.** "This sets the maximum function runtime to 120
seconds. Specifying shorter durations for quicker functions will improve queue
priority for Space visitors." (same page, *Duration Management*). Asking for
too little aborts the run; asking for more than the visitor's remaining daily
quota fails at once with "ZeroGPU quota exceeded" (hysts/huggingface-skills
``skills/huggingface-zerogpu/SKILL.md``, *Duration and Quota*); an
unauthenticated visitor has 2 minutes a day, a free account 5 (hub-docs page,
*Usage Tiers*).

**The duration multiplier.** ``spaces`` 0.51.3 multiplies the requested
duration by the backing GPU's ``duration_factor`` before it schedules the call
(``zero/client.py`` ``get_duration_seconds``, for every size but ``xlarge``);
``zero/configs.json`` gives 1.5 for "NVIDIA RTX PRO 6000 Blackwell Server
Edition" and 1.0 for "NVIDIA H200". The hub-docs page does not mention it.
:data:`SPACES_DURATION_FACTOR` and :func:`scheduled_seconds` state what the
scheduler and the quota check see.

**No ceiling.** No per-call maximum is documented: the skill says each visitor
tier has one but that "Tier numbers change over time" and points to the docs,
which give none; ``spaces`` only reports the server's refusal ("ZeroGPU illegal
duration"). So :func:`gpu_duration` returns what the work needs, uncapped.

**Where the numbers come from.** They are **not calibrated by a timing**: no
GPU was available to the sessions that wrote this package, so
``bench/bench_mcld.py`` has not run on one (``bench/README.md`` says how to
calibrate them from its printed ``overhead`` and ``per_step``). They rest on
counted FLOPs (``bench_mcld.py --flops-only``): one denoising step at 512x512
with classifier-free guidance is 1.72 TFLOP, the whole image about 40 TFLOP.
"""

from __future__ import annotations

import math

__all__ = [
    "ZEROGPU_DOCS_URL",
    "ZEROGPU_PYTHON_VERSIONS",
    "ZEROGPU_TORCH_VERSIONS",
    "ZEROGPU_GPU",
    "SPACES_DURATION_FACTOR",
    "GPU_OVERHEAD_S",
    "GPU_SECONDS_PER_STEP",
    "GPU_CONDITIONS_S",
    "GPU_MAX_S",
    "gpu_duration",
    "scheduled_seconds",
]

#: The page the facts below are read from (hub-docs ``docs/hub/spaces-zerogpu.md``).
ZEROGPU_DOCS_URL = "https://huggingface.co/docs/hub/spaces-zerogpu"
#: Python versions ZeroGPU supports (*Supported Versions*, July 2026).
ZEROGPU_PYTHON_VERSIONS = ("3.12.12", "3.10.13")
#: PyTorch versions ZeroGPU supports ("See full list", *Supported Versions*, July 2026).
ZEROGPU_TORCH_VERSIONS = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
#: The GPU behind the default ``large`` size (*Technical Specifications*).
ZEROGPU_GPU = "half an NVIDIA RTX Pro 6000 Blackwell (48 GB)"
#: ``duration_factor`` of "NVIDIA RTX PRO 6000 Blackwell Server Edition" in
#: ``spaces`` 0.51.3 ``zero/configs.json``, applied by ``zero/client.py``.
SPACES_DURATION_FACTOR = 1.5

#: Fixed cost per call: on a cold worker ZeroGPU streams the weights moved to
#: ``cuda`` at start-up (about 4.6 GB of float16, 2.3 B parameters) from disk
#: into VRAM; plus the VAE encode and decode (1.1 + 2.5 TFLOP) and CLIP.
GPU_OVERHEAD_S = 15.0
#: Seconds per denoising step per image (UNet + ReferenceNet, CFG batch of 2):
#: 1.72 TFLOP / 0.25 s = 6.9 TFLOP/s, about a ninth of the ``large`` slice's
#: float32 CUDA-core peak (half of 125) before any tensor-core gain, and below
#: the 9.2 TFLOP/s upstream's float32 code reached on an RTX A6000 (4.46 s per
#: image, 38.7 TFLOP/s float32 peak).
GPU_SECONDS_PER_STEP = 0.25
#: DensePose R-101 (0.57 TFLOP) + UV texture for the source and a photo target,
#: 3 s each (the face embedding runs on the CPU, before the GPU function).
GPU_CONDITIONS_S = 6.0
#: Not a ZeroGPU limit (none is documented, see the module docstring), and
#: :func:`gpu_duration` does not apply it. It is this project's own cap for
#: callers that would rather refuse a request up front (``mcld.grid``, the
#: app's edit): 120 s is the duration in the hub-docs example and an
#: unauthenticated visitor's whole daily quota (2 minutes), which such a
#: request exceeds once scheduled (``scheduled_seconds(120) == 180``).
GPU_MAX_S = 120


def gpu_duration(num_inference_steps: int, num_images: int = 1) -> int:
    """Seconds of GPU to request for one generation call (``spaces.GPU(duration=...)``).

    Args:
        num_inference_steps: Denoising steps (1..100).
        num_images: Images generated in the call (the edit handler also
            counts each extra parsing-attention reference as one).

    Returns:
        Whole seconds, at least 1 and not capped:
        ``overhead + conditions + steps * images * per_step``, rounded up
        (20 steps, one image: 26 s; ZeroGPU schedules
        ``scheduled_seconds(26) == 39`` on the Blackwell GPU).

    Raises:
        ValueError: non-positive steps or image count.

    Source:
        hub-docs ``docs/hub/spaces-zerogpu.md`` (*Dynamic duration*); the
        constants' origins are in the module docstring.
    """
    steps, images = int(num_inference_steps), int(num_images)
    if steps < 1 or images < 1:
        raise ValueError(f"num_inference_steps and num_images must be >= 1, got {num_inference_steps}, {num_images}")
    seconds = GPU_OVERHEAD_S + GPU_CONDITIONS_S + steps * images * GPU_SECONDS_PER_STEP
    return max(1, math.ceil(seconds))


def scheduled_seconds(duration_s: float, size: str = "large") -> int:
    """Seconds ZeroGPU schedules and checks against the visitor's quota for a request.

    Args:
        duration_s: The ``duration`` given to ``spaces.GPU`` (seconds, > 0).
        size: ``"large"`` (default, half a GPU) or ``"xlarge"`` (a full GPU).

    Returns:
        ``round(duration_s * SPACES_DURATION_FACTOR)`` for ``large``;
        ``duration_s * 2`` for ``xlarge`` (no factor; "xlarge consumes 2x more
        daily quota", hub-docs page, *GPU size selection*).

    Raises:
        ValueError: a non-positive duration or an unknown size.

    Source:
        ``spaces`` 0.51.3 ``zero/client.py`` (``get_duration_seconds``,
        ``schedule``: ``requested *= 2 if gpu_size == 'xlarge'``) and
        ``zero/configs.json``.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0 seconds, got {duration_s!r}")
    if size == "large":
        return round(duration_s * SPACES_DURATION_FACTOR)
    if size == "xlarge":
        return round(duration_s) * 2
    raise ValueError(f"size must be 'large' or 'xlarge', got {size!r}")
