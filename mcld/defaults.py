"""Default generation settings, in one place.

Read by :class:`mcld.pose_transfer.PoseTransfer`, :mod:`mcld.editing`, the
CLI (:mod:`mcld.cli`) and the demo app, so that a default is changed once.
The values are upstream MCLD's inference settings (jqliu09/MCLD ``test.py``
and its config: DDIM, 20 steps, classifier-free guidance 3.5) and the demo's
own choices (seed, tiny-mode steps, sizes).

Plain constants only: importing this module loads nothing.

Source:
    jqliu09/MCLD ``test.py`` / ``configs`` (steps, guidance scale, DDIM);
    the seeds and the tiny-mode settings are ours.
"""

from __future__ import annotations

__all__ = [
    "NUM_INFERENCE_STEPS",
    "TINY_NUM_INFERENCE_STEPS",
    "GUIDANCE_SCALE",
    "SEED",
    "API_SEED",
    "SCHEDULER",
    "MODEL_SIZE",
    "TINY_MODEL_SIZE",
    "OUTPUT_SIZE",
    "OUTPUT_SIZES",
]

#: DDIM denoising steps (upstream: 20).
NUM_INFERENCE_STEPS: int = 20
#: Denoising steps in tiny-weights mode (random tiny models; a smoke test).
TINY_NUM_INFERENCE_STEPS: int = 4
#: Classifier-free guidance scale ``g`` (upstream: 3.5).
GUIDANCE_SCALE: float = 3.5
#: Noise seed the app and the CLI start from.
SEED: int = 42
#: Noise seed of the Python API's keyword defaults
#: (:meth:`mcld.pose_transfer.PoseTransfer.generate`, :func:`mcld.editing.edit`).
API_SEED: int = 0
#: Sampler name, a key of :data:`mcld.schedulers.SCHEDULERS` (upstream: DDIM).
SCHEDULER: str = "ddim"
#: Square sampling size of the real model, in pixels (512x512; crops are
#: resized to it and results cut back to 512x352 and 256x176).
MODEL_SIZE: int = 512
#: Square sampling size in tiny-weights mode, in pixels.
TINY_MODEL_SIZE: int = 256
#: Saved/shown result size ``"HxW"`` in pixels (DeepFashion's 512x352).
OUTPUT_SIZE: str = "512x352"
#: Result sizes ``"HxW"`` every generation returns (DeepFashion's two test sizes).
OUTPUT_SIZES: tuple[str, ...] = ("512x352", "256x176")
