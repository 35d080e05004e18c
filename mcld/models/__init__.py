"""MCLD networks: pose guider, face Resampler, attention processors, UNet builders."""

from .attention_processors import (
    MultiFocalIPAttnProcessor,
    PoseFeatureInjector,
    ReferenceAttentionQuery,
    ReferenceBank,
    ReferenceReadProcessor,
    ReferenceWriteProcessor,
    StageContextLayout,
    pack_stage_contexts,
)
from .face_resampler import FaceResampler
from .pose_guider import PoseGuider
from .unets import build_denoising_unet, build_reference_unet

__all__ = [
    "FaceResampler",
    "MultiFocalIPAttnProcessor",
    "PoseFeatureInjector",
    "PoseGuider",
    "ReferenceAttentionQuery",
    "ReferenceBank",
    "ReferenceReadProcessor",
    "ReferenceWriteProcessor",
    "StageContextLayout",
    "build_denoising_unet",
    "build_reference_unet",
    "pack_stage_contexts",
]
