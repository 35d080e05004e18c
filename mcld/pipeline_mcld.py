"""MCLD pose-guided person image synthesis pipeline (diffusers style).

Source:
    Liu et al., "Multi-focal Conditioned Latent Diffusion for Person Image
    Synthesis", CVPR 2025; upstream ``jqliu09/MCLD`` @ 6279ff7
    ``src/pipelines/pipeline_pose2img_mcld.py`` (``Pose2ImageIpMultiPipeline``),
    ``src/dataset/deepfashion_dataset.py`` (input preprocessing) and ``test.py``
    (post-processing). Behaviour is specified in MCLD_REFERENCE_FACTS s4-s9.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.utils import BaseOutput, replace_example_docstring

from .errors import NaNOutputError, OutOfMemoryError
from .image_processor import (
    UPSTREAM_OUTPUT_SIZES,
    clip_preprocess,
    convert_images,
    iuv_to_pose_guider_input,
    prepare_condition_images,
    texture_to_vae_input,
    upstream_postprocess,
    vae_output_to_images,
)
from .models.attention_processors import (
    MultiFocalIPAttnProcessor,
    PoseFeatureInjector,
    ReferenceBank,
    pack_stage_contexts,
    set_reference_processors,
    transformer_block_attentions,
)
from .models.face_resampler import FaceResampler
from .models.pose_guider import PoseGuider

__all__ = [
    "MCLDPipeline",
    "MCLDPipelineOutput",
    "IntermediateCapture",
    "ABLATIONS",
    "EXECUTION_MODES",
    "FAST_MODE_TOLERANCE",
    "UPSTREAM_OUTPUT_SIZES",
    "clip_preprocess",
    "upstream_postprocess",
]

#: Execution modes, see :class:`MCLDPipeline`.
EXECUTION_MODES = ("reference", "fast")
#: Conditions ``MCLDPipeline.__call__(ablations=...)`` can switch off at
#: inference, each in the conditional CFG rows only, the way the unconditional
#: branch already has it (facts s5, s7: zeros for every context token):
#:
#: * ``"face_tokens"``: the 16 face tokens of every stage context are zeros
#:   (the IP-attention face input equals the uncond rows'); CLIP tokens,
#:   reference bank and pose features unchanged.
#: * ``"source_clip"``: the CLIP(source photo) token is zeros wherever it is
#:   used: down and mid contexts and the ReferenceNet context (so the bank the
#:   ReferenceNet writes changes too); texture token, face tokens, pose unchanged.
#: * ``"texture_clip"``: the CLIP(texture map) token of the mid and up contexts
#:   is zeros; everything else unchanged.
#: * ``"reference_attention"``: the ReferenceNet pass is skipped, so every
#:   ``attn1`` of the denoising UNet is plain self-attention (as for the uncond
#:   rows); the stage contexts and pose features unchanged.
#:
#: Parsing-guided reference attention is switched *on* instead, with
#: ``reference_attention_mask`` (see :mod:`mcld.models.attention_processors`).
#: With no ablation the call runs exactly the ops it runs without the argument.
ABLATIONS = ("face_tokens", "source_clip", "texture_clip", "reference_attention")
#: Documented agreement of ``"fast"`` with ``"reference"`` in float32 on the CPU
#: (max abs difference; tiny random weights, 4 steps, guidance 3.5). Almost all
#: of it is upstream's float16 bank round trip, which the fast mode skips; with
#: the same bank dtype the two modes agree to ~1e-5.
FAST_MODE_TOLERANCE = {"latents": 2e-3, "images": 1e-3}
#: Latent scale hard-coded upstream (not read from the VAE config; facts s4, s10.10).
VAE_SCALE = 0.18215
#: Callback tensors that are outputs of the step just taken (recomputed at every
#: step): a callback may read them; returning a different tensor is refused.
_STEP_OUTPUT_TENSORS = ("noise_pred", "noise_pred_raw")

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import torch
        >>> from PIL import Image
        >>> from mcld.pipeline_mcld import MCLDPipeline

        >>> pipe = MCLDPipeline.from_mcld_checkpoints("Lotior/mcld", torch_dtype=torch.float16, device="cuda")
        >>> out = pipe(
        ...     source_image=Image.open("person.jpg"),
        ...     texture_map=Image.open("person_texture.png"),  # 512x512 SMPL UV texture
        ...     target_iuv=Image.open("target_iuv.png"),       # R=V*255, G=U*255, B=part index
        ...     face_embeds=None,                              # or the (1, 512) insightface embedding
        ...     generator=torch.Generator().manual_seed(42),
        ... )
        >>> out.images_512x352[0].save("result.png")
        ```
"""


@dataclass
class MCLDPipelineOutput(BaseOutput):
    """Output of :class:`MCLDPipeline`.

    Attributes:
        images: Images at the model resolution (``height x width``, 512x512 by
            default): list of ``B`` RGB PIL images (``output_type="pil"``),
            ``(B, H, W, 3)`` float32 in ``[0, 1]`` (``"np"``) or ``(B, 3, H, W)``
            float32 in ``[0, 1]`` (``"pt"``); ``None`` for ``"latent"``.
        images_512x352: Upstream ``test.py`` post-processing to 512x352
            (height x width): bicubic antialiased resize, ``*255``, clamp,
            truncating uint8 cast. PIL list, ``(B, 512, 352, 3)`` uint8 (``"np"``)
            or ``(B, 3, 512, 352)`` uint8 (``"pt"``).
        images_256x176: Same at 256x176.
        latents: ``(B, 4, H / 8, W / 8)`` final latents (unscaled, float32).
    """

    images: Any
    images_512x352: Any
    images_256x176: Any
    latents: torch.Tensor


# Pipeline -----------------------------------------------------------------------


class MCLDPipeline(DiffusionPipeline):
    r"""Pose-guided person image synthesis with MCLD.

    Given a source person photo, its SMPL UV texture map, a target DensePose
    IUV map and (optionally) the source face's insightface embedding, the
    pipeline renders the person in the target pose.

    Components:
        vae (`AutoencoderKL`): SD VAE (``sd-vae-ft-mse``); encodes the texture map
            (posterior mean x 0.18215) and decodes the result.
        image_encoder (`CLIPVisionModelWithProjection`): CLIP ViT-L/14; its
            ``image_embeds`` of the source photo and of the texture map are one
            context token each.
        reference_unet (`UNet2DConditionModel`): ReferenceNet (no output head); run
            once per request at timestep 0 on the texture latents, it fills the
            reference bank.
        denoising_unet (`UNet2DConditionModel`): SD-1.5 UNet whose ``attn1`` read
            the bank, whose ``attn2`` are multi-focal IP processors and whose
            ``conv_in`` output receives the pose features.
        pose_guider (`PoseGuider`): DensePose IUV -> ``conv_in``-width features.
        face_resampler (`FaceResampler`): face embedding -> 16 face tokens
            (upstream ``image_proj_model``).
        scheduler (`SchedulerMixin`): upstream DDIM (linear betas, zero-SNR,
            trailing, v-prediction) by default; swappable with
            ``pipe.scheduler = X.from_config(pipe.scheduler.config)``.

    Execution modes (``execution_mode`` attribute or ``__call__`` argument):

    * ``"reference"``: upstream semantics. The reference pass runs on the CFG
      batch ``[uncond (zero CLIP context), cond]`` and the bank makes a float16
      round trip even in float32 (``reference_bank_dtype=torch.float16``).
    * ``"fast"``: the reference pass runs on the conditional rows only, the
      bank stays in the compute dtype, reference keys/values are projected once
      per request and cached. Combine with float16/bfloat16 weights on GPU and
      :meth:`enable_fast_path` (channels_last, ``torch.compile``).

    Both use one batched UNet call per step for CFG and PyTorch SDPA.

    One call at a time per instance: a call keeps its state (reference bank,
    pose features) on the instance. Threads sharing a pipeline serialise their
    calls, as :class:`~mcld.pose_transfer.PoseTransfer` does with its
    ``sampling_lock``.

    Reference-attention hook: ``pipe.reference_bank.attention_mask_fn`` (see
    :mod:`mcld.models.attention_processors`) restricts, per layer, which
    reference tokens each target location attends to.

    Source:
        Upstream ``src/pipelines/pipeline_pose2img_mcld.py``; MCLD paper Sec. 3.
    """

    model_cpu_offload_seq = "image_encoder->face_resampler->reference_unet->pose_guider->denoising_unet->vae"
    _callback_tensor_inputs = ["latents", "noise_pred", "noise_pred_raw", "encoder_hidden_states", "pose_features"]
    _optional_components: List[str] = []

    def __init__(
        self,
        vae: AutoencoderKL,
        image_encoder,
        reference_unet: UNet2DConditionModel,
        denoising_unet: UNet2DConditionModel,
        pose_guider: PoseGuider,
        face_resampler: FaceResampler,
        scheduler,
        execution_mode: str = "reference",
    ):
        super().__init__()
        ip_processors = [a.processor for _, a in transformer_block_attentions(denoising_unet, "attn2")]
        if not ip_processors or not all(isinstance(p, MultiFocalIPAttnProcessor) for p in ip_processors):
            raise ValueError(
                "denoising_unet must carry MultiFocalIPAttnProcessor on every attn2; build it with "
                "mcld.models.build_denoising_unet"
            )
        self.register_modules(
            vae=vae,
            image_encoder=image_encoder,
            reference_unet=reference_unet,
            denoising_unet=denoising_unet,
            pose_guider=pose_guider,
            face_resampler=face_resampler,
            scheduler=scheduler,
        )
        self.reference_bank = ReferenceBank()
        self.reference_block_names = set_reference_processors(reference_unet, self.reference_bank, "write")
        self.denoising_block_names = set_reference_processors(denoising_unet, self.reference_bank, "read")
        self.pose_injector = PoseFeatureInjector().attach(denoising_unet)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.num_face_tokens = ip_processors[0].num_tokens
        self.execution_mode = execution_mode
        self._check_mode(execution_mode)

    # -- construction -------------------------------------------------------------

    @classmethod
    def from_mcld_checkpoints(
        cls,
        mcld_weights: Union[str, Path] = "Lotior/mcld",
        vae: Union[str, Path, AutoencoderKL] = "stabilityai/sd-vae-ft-mse",
        image_encoder: Union[str, Path, Any] = "lambdalabs/sd-image-variations-diffusers",
        torch_dtype: torch.dtype = torch.float32,
        device: Union[str, torch.device] = "cpu",
        execution_mode: Optional[str] = None,
        unet_config: Optional[Union[str, Path, Dict[str, Any]]] = None,
        scheduler_config: Optional[Union[str, Path, Dict[str, Any]]] = None,
        pose_guider_config: Optional[Union[str, Path, Dict[str, Any]]] = None,
        face_resampler_config: Optional[Union[str, Path, Dict[str, Any]]] = None,
        cache_dir: Optional[Union[str, Path]] = None,
        subfolder: Optional[str] = None,
        fp16_cache: Optional[bool] = None,
        local_files_only: Optional[bool] = None,
        convert: bool = True,
    ) -> "MCLDPipeline":
        """Build the pipeline from upstream MCLD checkpoints (the released ``.pth`` files).

        Not :meth:`DiffusionPipeline.from_pretrained`, which keeps its diffusers
        meaning (a folder in ``save_pretrained`` layout with ``model_index.json``):
        the released weights are four upstream ``.pth`` files plus the stock SD
        VAE and CLIP image encoder, loaded by :func:`mcld.loaders.load_mcld_components`.

        Args:
            mcld_weights: Local folder or Hub repo id holding ``denoising_unet.pth``,
                ``reference_unet.pth``, ``pose_guider.pth``, ``image_proj_model.pth``
                (or ``image_projector.pth``).
            vae: Folder / repo id of the VAE, or an ``AutoencoderKL``.
            image_encoder: Folder / repo id (subfolder ``image_encoder``) or a
                ``CLIPVisionModelWithProjection``.
            torch_dtype: Weight dtype (float32 on CPU; float16/bfloat16 on GPU).
            device: Target device.
            execution_mode: ``"reference"`` or ``"fast"``; default ``"fast"`` on
                CUDA, ``"reference"`` otherwise.
            unet_config: UNet config (dict or JSON path); default
                ``<mcld_weights>/unet_config.json`` when present, else the shipped
                SD-1.5 config.
            scheduler_config: DDIM config; default the shipped upstream
                ``inference_v3`` config.
            pose_guider_config: :class:`PoseGuider` kwargs (dict or JSON path,
                or :data:`mcld.loaders.FROM_CHECKPOINT`); default the upstream
                sizes with ``conditioning_embedding_channels`` = the UNet's first width.
            face_resampler_config: :class:`FaceResampler` kwargs (same forms); default
                the upstream sizes with ``output_dim`` = the UNet's ``cross_attention_dim``.
            cache_dir: Safetensors conversion cache (:func:`mcld.weights.default_cache_dir`).
            subfolder: Folder inside ``mcld_weights``.
            fp16_cache: Convert to float16 safetensors (default: when
                ``torch_dtype`` is float16).
            local_files_only: Never try the network (MCLD files, VAE and image
                encoder; ``None``: the Hub default, i.e. ``HF_HUB_OFFLINE``).
            convert: Write converted safetensors to the cache.

        Returns:
            The pipeline on ``device``, every component in ``torch_dtype``.

        Raises:
            WeightsNotFoundError: If a weight file is neither local nor downloadable.
            CheckpointError: If a file is corrupt or does not match the model.

        Source:
            Upstream ``test.py`` (component construction and checkpoint loading).
        """
        from .loaders import load_mcld_components

        components = load_mcld_components(
            mcld_weights,
            vae=vae,
            image_encoder=image_encoder,
            unet_config=unet_config,
            scheduler_config=scheduler_config,
            pose_guider_config=pose_guider_config,
            face_resampler_config=face_resampler_config,
            torch_dtype=torch_dtype,
            subfolder=subfolder,
            cache_dir=cache_dir,
            convert=convert,
            fp16_cache=fp16_cache,
            local_files_only=local_files_only,
        )
        if execution_mode is None:
            execution_mode = "fast" if torch.device(device).type == "cuda" else "reference"
        return cls(**components, execution_mode=execution_mode).to_device_dtype(device, torch_dtype)

    def enable_fast_path(self, channels_last: bool = False, compile_unet: bool = False, **compile_kwargs) -> None:
        """Switch to ``execution_mode="fast"`` and optionally tune the denoising UNet.

        Args:
            channels_last: Use ``torch.channels_last`` memory format for both UNets
                (helps convolutions on recent GPUs).
            compile_unet: Wrap the denoising UNet's forward with ``torch.compile``
                (first call compiles two graphs: step 0, which fills the cached
                reference K/V, and the later steps; a new request recompiles
                nothing, see ``tests/test_pipeline_fast.py``).
            **compile_kwargs: Passed to ``torch.compile`` (e.g. ``fullgraph=True``,
                ``mode="max-autotune-no-cudagraphs"``). ``mode="reduce-overhead"``
                (CUDA graphs) is untested: the K/V cached at step 0 are outputs
                of one graph read by another, which CUDA graphs may overwrite.
        """
        self.execution_mode = "fast"
        if channels_last:
            self.denoising_unet.to(memory_format=torch.channels_last)
            self.reference_unet.to(memory_format=torch.channels_last)
        if compile_unet:
            self.denoising_unet.forward = torch.compile(self.denoising_unet.forward, **compile_kwargs)

    def to_device_dtype(self, device: Union[str, torch.device], dtype: torch.dtype) -> "MCLDPipeline":
        """Move every component to ``device`` and cast those not already in ``dtype``.

        (``DiffusionPipeline.to(dtype=...)`` warns for every module even when
        nothing changes; this casts only what differs.) Casting happens before
        the move, on the current device: a float32 checkpoint bound for a
        float16 GPU never occupies GPU memory in float32 (and on ZeroGPU no
        cast runs on not-yet-materialised CUDA tensors).
        """
        for name in ("vae", "image_encoder", "reference_unet", "denoising_unet", "pose_guider", "face_resampler"):
            module = getattr(self, name)
            if module.dtype != dtype:
                module.to(dtype=dtype)
        self.to(device)
        return self

    @staticmethod
    def _check_ablations(ablations) -> frozenset:
        """Validate ``ablations`` (names from :data:`ABLATIONS`); returns them as a frozenset."""
        if isinstance(ablations, str):
            ablations = (ablations,)
        names = frozenset(ablations or ())
        unknown = sorted(n for n in names if n not in ABLATIONS)
        if unknown:
            raise ValueError(f"unknown ablations {unknown}; choose from {ABLATIONS}")
        return names

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in EXECUTION_MODES:
            raise ValueError(f"execution_mode must be one of {EXECUTION_MODES}, got {mode!r}")

    @property
    def _compute_dtype(self) -> torch.dtype:
        return self.denoising_unet.dtype

    # -- inputs -------------------------------------------------------------------

    def check_inputs(
        self,
        source_image,
        texture_map,
        target_iuv,
        face_embeds,
        height: int,
        width: int,
        num_inference_steps: int,
        guidance_scale: float,
        latents: Optional[torch.Tensor] = None,
        callback_on_step_end_tensor_inputs: Optional[Sequence[str]] = None,
    ) -> None:
        """Validate call arguments before any model runs.

        Raises:
            ValueError: Naming the bad value (missing image, size not a positive
                multiple of the VAE factor 8, non-positive steps, negative
                guidance, wrong latents shape, unknown callback tensor name, bad
                face embedding shape).
        """
        for name, value in (("source_image", source_image), ("texture_map", texture_map), ("target_iuv", target_iuv)):
            if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
                raise ValueError(f"{name} is required, got {value!r}")
        # Upstream accepts any multiple of the VAE factor (8), e.g. 512x352: a latent
        # side that the UNet's down-sampling does not halve evenly (44 -> 22 -> 11 -> 6)
        # is brought back to the skip connection's size by its up-samplers (diffusers
        # forwards ``upsample_size``, as upstream's UNets do).
        multiple = self.vae_scale_factor
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (height, width)):
            raise ValueError(f"height and width must be ints, got {height!r}x{width!r}")
        if height % multiple or width % multiple or height <= 0 or width <= 0:
            raise ValueError(
                f"height and width must be positive multiples of {multiple} (the VAE factor), got {height}x{width}"
            )
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive int, got {num_inference_steps!r}")
        if not np.isfinite(guidance_scale) or guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {guidance_scale!r}")
        if latents is not None:
            expected = (4, height // self.vae_scale_factor, width // self.vae_scale_factor)
            if latents.ndim != 4 or tuple(latents.shape[1:]) != expected:
                raise ValueError(f"latents must have shape (B, {expected[0]}, {expected[1]}, {expected[2]}), got {tuple(latents.shape)}")
        if callback_on_step_end_tensor_inputs is not None:
            bad = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
            if bad:
                raise ValueError(f"callback_on_step_end_tensor_inputs {bad} not in {self._callback_tensor_inputs}")
        if face_embeds is not None:
            shape = tuple(np.shape(face_embeds))
            if not shape or shape[-1] != self.face_resampler.config.embedding_dim or len(shape) > 3:
                raise ValueError(
                    f"face_embeds must be (512,), (B, 512) or (B, 1, 512) (raw insightface embedding), got {shape}"
                )

    def prepare_images(
        self,
        source_image,
        texture_map,
        target_iuv,
        height: int,
        width: int,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Turn the three image inputs into float tensors as upstream's dataset does.

        PIL images / uint8 arrays are bicubic-resized to ``(height, width)`` (a
        non-square photo is squashed) and scaled to ``[0, 1]`` (``ToTensor``).
        A list of K texture maps (and optionally K source images) gives K
        references per sample.

        Args:
            source_image: Source person photo: PIL / ``(H, W, 3)`` uint8 / tensor
                ``(B, 3, H, W)`` in ``[0, 1]`` (any size: it only feeds CLIP), or
                a list of K of these (one per reference, B = 1).
            texture_map: 512x512 SMPL UV texture atlas (RGB): PIL / array /
                tensor ``(B, 3, H, W)`` or ``(B, K, 3, H, W)`` in ``[0, 1]``, or
                a list of K PIL images.
            target_iuv: Target DensePose IUV image in upstream PIL channel order
                (R = V*255, G = U*255, B = part index 0..24): PIL / array /
                tensor ``(B, 3, H, W)`` in ``[0, 1]``.
            height, width: Model resolution in pixels.

        Returns:
            ``(source, texture, iuv)``: ``(B, Ks, 3, Hs, Ws)`` with Ks in {1, K},
            ``(B, K, 3, height, width)`` and ``(B, 3, height, width)``, float32 CPU.

        Raises:
            ValueError / TypeError: For unusable inputs (named).

        Source:
            :func:`mcld.image_processor.prepare_condition_images` (upstream dataset).
        """
        return prepare_condition_images(source_image, texture_map, target_iuv, height, width)

    @torch.no_grad()
    def encode_clip_image(self, images: torch.Tensor, device, dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        """CLIP image embedding as one context token.

        Args:
            images: ``(N, 3, H, W)`` float in ``[0, 1]``.

        Returns:
            ``(embeds, pixel_values)``: ``(N, 1, D)`` projected ``image_embeds``
            (not L2-normalised) in ``dtype`` and the ``(N, 3, 224, 224)`` float32
            pixel values.

        Source:
            Upstream ``pipeline_pose2img_mcld.py`` L97-116.
        """
        pixel_values = clip_preprocess(images)
        encoder_dtype = self.image_encoder.dtype
        embeds = self.image_encoder(pixel_values.to(device=device, dtype=encoder_dtype)).image_embeds
        return embeds.unsqueeze(1).to(dtype), pixel_values

    @torch.no_grad()
    def encode_face(self, face_embeds, batch_size: int, device, dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        """Face tokens from raw insightface embeddings.

        Args:
            face_embeds: ``None`` (zeros, as upstream does when no face file
                exists), or ``(512,)``, ``(B, 512)``, ``(B, 1, 512)`` float
                (NumPy or torch) raw, not L2-normalised embedding.
            batch_size: ``B``.

        Returns:
            ``(tokens, embeds)``: ``(B, 16, D)`` face tokens in ``dtype`` and the
            ``(B, 1, 512)`` float32 embedding used.
        """
        dim = self.face_resampler.config.embedding_dim
        if face_embeds is None:
            embeds = torch.zeros(batch_size, 1, dim)
        else:
            embeds = torch.as_tensor(np.asarray(face_embeds, dtype=np.float32) if not isinstance(face_embeds, torch.Tensor) else face_embeds).float().cpu()
            embeds = embeds.reshape(-1, 1, dim)
            if embeds.shape[0] == 1 and batch_size > 1:
                embeds = embeds.expand(batch_size, 1, dim)
            if embeds.shape[0] != batch_size:
                raise ValueError(f"face_embeds has batch {embeds.shape[0]}, expected {batch_size}")
        if not torch.isfinite(embeds).all():
            raise ValueError("face_embeds contains NaN or inf")
        tokens = self.face_resampler(embeds.to(device=device, dtype=self.face_resampler.dtype))
        return tokens.to(dtype), embeds

    def prepare_latents(
        self,
        batch_size: int,
        height: int,
        width: int,
        dtype: torch.dtype,
        device,
        generator: Optional[torch.Generator] = None,
        latents: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Initial noise ``(B, 4, H/8, W/8)``.

        Drawn as float32 with ``torch.randn`` on the generator's device (a CPU
        generator draws on the CPU, as upstream's global CPU generator does, so
        a seed gives the same noise on any device and dtype), then moved to
        ``device``/``dtype`` and multiplied by ``scheduler.init_noise_sigma``.
        Explicit ``latents`` are used as given (also scaled).
        """
        shape = (batch_size, 4, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is None:
            gen_device = generator.device if generator is not None else torch.device("cpu")
            latents = torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32)
        elif latents.shape[0] != batch_size:
            raise ValueError(f"latents has batch {latents.shape[0]}, expected {batch_size}")
        latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    @torch.no_grad()
    def encode_reference(
        self,
        texture: torch.Tensor,
        reference_context: torch.Tensor,
        mode: str,
        do_classifier_free_guidance: bool,
        debug_hook: Optional[Callable[[str, Any], None]] = None,
    ) -> None:
        """Fill the reference bank: VAE-encode the texture maps, run the ReferenceNet.

        Args:
            texture: ``(B, K, 3, H, W)`` float in ``[0, 1]``.
            reference_context: ``(B, K, 1, D)`` CLIP(source) token per reference.
            mode: ``"reference"`` runs on ``[uncond (zero context), cond]`` rows
                as upstream; ``"fast"`` on the cond rows only.
            do_classifier_free_guidance: Whether an uncond half exists (reference mode).
            debug_hook: Optional ``hook(name, value)`` told ``vae_enc_input``,
                ``vae_enc_mean``, ``ref_latents``, ``ref_unet_encoder_hidden_states``
                and ``refbank`` (``{block path: (N, L, C)}`` as written).

        Source:
            Upstream ``pipeline_pose2img_mcld.py`` L172-211 (mean latents x 0.18215,
            timestep 0, context ``[zeros, CLIP(source)]``).
        """
        batch, num_refs = texture.shape[:2]
        device, dtype = self._execution_device, self._compute_dtype
        report = debug_hook or _no_report
        vae_in = texture_to_vae_input(texture, device=device, dtype=self.vae.dtype)
        mean = self.vae.encode(vae_in).latent_dist.mean
        ref_latents = (mean * VAE_SCALE).to(dtype)
        context = reference_context.reshape(batch * num_refs, 1, -1).to(device=device, dtype=dtype)
        if mode == "reference" and do_classifier_free_guidance:
            ref_latents = torch.cat([ref_latents, ref_latents])
            context = torch.cat([torch.zeros_like(context), context])
        _report_all(report, vae_enc_input=vae_in, vae_enc_mean=mean, ref_latents=ref_latents,
                    ref_unet_encoder_hidden_states=context)
        bank = self.reference_bank
        bank.writing = True
        try:
            timestep = torch.zeros((), dtype=torch.long, device=device)
            self.reference_unet(ref_latents, timestep, encoder_hidden_states=context, return_dict=False)
        finally:
            bank.writing = False
        report("refbank", bank.written)
        bank.finalize(batch_size=batch, num_references=num_refs)
        bank.written.clear()
        bank.reference_latent_hw = tuple(ref_latents.shape[-2:])

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode one sample at a time: ``latents * (1 / 0.18215)`` -> VAE -> ``[0, 1]``.

        A half-precision VAE whose output overflows (non-finite values, which
        would otherwise become a silently black image) decodes that sample
        again in float32, as diffusers does for VAEs with ``force_upcast``.
        A float32 decode is never repeated.

        Returns:
            ``(images, decoder_input, decoder_output)``: ``(B, 3, H, W)`` float32
            in ``[0, 1]`` (``(x / 2 + 0.5).clamp(0, 1)``), and the raw decoder
            input/output (for debugging).

        Raises:
            NaNOutputError: If the decoded image is not finite even in float32.
        """
        decoder_input = (1 / VAE_SCALE * latents).to(self.vae.dtype)
        decoded = [self.vae.decode(z[None]).sample for z in decoder_input]
        for i, sample in enumerate(decoded):
            if torch.isfinite(sample).all():
                continue
            if self.vae.dtype in (torch.float16, torch.bfloat16):
                decoded[i] = self._decode_float32(1 / VAE_SCALE * latents[i : i + 1].float()).to(sample.dtype)
            if not torch.isfinite(decoded[i]).all():
                raise NaNOutputError(
                    "Generation failed: the result contained invalid values. Try again with another seed.",
                    f"non-finite VAE output for sample {i}",
                )
        decoded = torch.cat(decoded)
        return vae_output_to_images(decoded), decoder_input, decoded

    def _decode_float32(self, decoder_input: torch.Tensor) -> torch.Tensor:
        """Decode ``(1, 4, h, w)`` with the VAE temporarily in float32 (overflow fallback)."""
        dtype = self.vae.dtype
        self.vae.to(torch.float32)
        try:
            return self.vae.decode(decoder_input).sample.clamp(-1, 1)
        finally:
            self.vae.to(dtype)

    # -- call ---------------------------------------------------------------------

    @property
    def guidance_scale(self) -> float:
        """Classifier-free guidance scale of the current/last call (upstream default 3.5)."""
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        """CFG is on when ``guidance_scale > 1`` (upstream L85)."""
        return self._guidance_scale > 1

    @property
    def num_timesteps(self) -> int:
        """Number of denoising steps of the current/last call."""
        return self._num_timesteps

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        source_image=None,
        texture_map=None,
        target_iuv=None,
        face_embeds=None,
        num_inference_steps: int = 20,
        guidance_scale: float = 3.5,
        height: int = 512,
        width: int = 512,
        generator: Optional[torch.Generator] = None,
        latents: Optional[torch.Tensor] = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Optional[Callable[["MCLDPipeline", int, Any, Dict[str, Any]], Dict[str, Any]]] = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        execution_mode: Optional[str] = None,
        reference_bank_dtype: Union[str, torch.dtype, None] = "auto",
        eta: float = 0.0,
        debug_capture: Optional[Dict[str, Any]] = None,
        ablations: Sequence[str] = (),
        reference_attention_mask: Optional[Callable[[Any], Optional[torch.Tensor]]] = None,
        debug_hook: Optional[Callable[[str, Any], None]] = None,
    ):
        r"""Render the source person in the target pose.

        Args:
            source_image: Source person photo (RGB). PIL / ``(H, W, 3)`` uint8 /
                ``(B, 3, H, W)`` float tensor in ``[0, 1]``; bicubic-squashed to
                ``height x width`` like upstream's dataset; used for the CLIP
                token of the down/mid stages and of the reference pass. A list of
                K images pairs with K texture maps.
            texture_map: The person's 512x512 SMPL UV texture atlas (RGB), same
                forms; resized to ``height x width``. A list of K maps (or a
                ``(B, K, 3, H, W)`` tensor) gives K references: their
                ReferenceNet tokens are concatenated in every reader layer and
                the CLIP tokens of the K maps (and of K sources) are averaged.
            target_iuv: Target DensePose IUV image, channels as upstream reads
                its PNGs with PIL (R = V*255, G = U*255, B = part index 0..24),
                same forms; bicubic-resized to ``height x width`` as upstream does.
            face_embeds: Raw insightface embedding of the source face, ``(512,)``,
                ``(B, 512)`` or ``(B, 1, 512)`` float32; ``None`` = zeros (what
                upstream uses when no face was found).
            num_inference_steps: Denoising steps (upstream 20).
            guidance_scale: Classifier-free guidance weight ``g``;
                ``uncond + g * (cond - uncond)``, off when ``g <= 1`` (upstream 3.5).
            height, width: Model resolution in pixels (upstream 512x512; any multiples
                of 8, e.g. 512x352; latents are ``(height / 8, width / 8)``).
            generator: ``torch.Generator`` for the initial noise; a CPU generator
                seeded with ``s`` reproduces upstream's ``torch.manual_seed(s)``.
            latents: Optional ``(B, 4, height/8, width/8)`` initial noise.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            return_dict: Return :class:`MCLDPipelineOutput` (else a tuple).
            callback_on_step_end: ``fn(pipe, step_index, timestep, callback_kwargs)
                -> dict`` called after every step; ``callback_kwargs`` holds the
                tensors named in ``callback_on_step_end_tensor_inputs``. As in
                diffusers, a returned tensor replaces the pipeline's from the next
                step on: ``"latents"``, ``"encoder_hidden_states"`` (the packed stage
                contexts of every later step) and ``"pose_features"`` (the features
                added to ``conv_in``'s output, both CFG rows). A replacement must keep
                the shape. ``"noise_pred"`` / ``"noise_pred_raw"`` are outputs of the
                step just taken (recomputed at every step): they may be returned
                unchanged (e.g. ``return callback_kwargs``); a different tensor is
                refused with ``ValueError``, since it could change nothing.
            callback_on_step_end_tensor_inputs: Names from ``_callback_tensor_inputs``
                (``latents`` ``(B, 4, h, w)``; ``noise_pred`` guided ``(B, 4, h, w)``;
                ``noise_pred_raw`` UNet output ``(2B or B, 4, h, w)``, rows
                ``[uncond, cond]``; ``encoder_hidden_states`` packed stage contexts
                ``(2B or B, T, D)``; ``pose_features`` ``(B, C0, h, w)``).
            execution_mode: ``"reference"`` or ``"fast"`` (default: the attribute).
            reference_bank_dtype: Storage dtype of the reference bank; ``"auto"`` =
                float16 in reference mode (upstream quirk), compute dtype in fast
                mode; ``None`` = compute dtype; or a ``torch.dtype``.
            eta: DDIM eta (upstream 0).
            debug_capture: Optional dict the pipeline fills with intermediates,
                shorthand for ``debug_hook=IntermediateCapture(debug_capture)``
                (names as in the golden set: ``clip_pixel_values_source``,
                ``clip_embeds_source``, ``face_tokens``, ``vae_enc_input``,
                ``vae_enc_mean``, ``ref_latents``, ``ref_unet_encoder_hidden_states``,
                ``pose_guider_input``, ``pose_fea``, ``refbank`` (``{block path:
                (N, L, C)}``), ``enc_down/mid/up_step0``, ``timesteps``,
                ``init_noise``, ``unet_input_steps``, ``noise_pred_raw_steps``,
                ``noise_pred_guided_steps``, ``latents_steps`` (lists per step),
                ``vae_decode_input``, ``vae_decode_output``, ``image``, ``input_*``).
            ablations: Conditions to switch off at inference, names from
                :data:`ABLATIONS` (``"face_tokens"``, ``"source_clip"``,
                ``"texture_clip"``, ``"reference_attention"``); each zeroes
                only the named condition in the conditional CFG rows, as the
                uncond branch has it. ``()`` (default) is bit-identical to
                not passing the argument. For ablation studies and the
                comparison grid (:mod:`mcld.grid`), not for normal use.
            reference_attention_mask: Reference-attention mask function
                (``bank.attention_mask_fn`` contract, e.g. parsing-guided
                attention, :class:`~mcld.models.attention_processors.PartAttentionMask`)
                installed for this call only; ``None`` leaves the bank's hook as it is.
            debug_hook: Optional ``hook(name, value)`` the pipeline tells each
                intermediate as it is computed (the names of ``debug_capture``;
                per-step names end in ``_steps`` and are told once per step, and
                ``latents_steps`` once more before the loop with the initial noise).
                It must not modify the values. :class:`IntermediateCapture` keeps them.

        Examples:

        Returns:
            :class:`MCLDPipelineOutput` or ``(images, images_512x352,
            images_256x176, latents)``.

        Raises:
            ValueError / TypeError: For bad arguments (see :meth:`check_inputs`), an
                unknown ablation name, both ``debug_capture`` and ``debug_hook``, or
                a callback replacement of the wrong shape or of a step output.
            NaNOutputError: If the final latents are NaN/inf (e.g. float16 overflow; checked
                once after the loop, which adds no host-GPU sync per step) or the VAE output is.
            OutOfMemoryError: If CUDA runs out of memory.
        """
        # 1. Check inputs
        mode = execution_mode or self.execution_mode
        self._check_mode(mode)
        ablations = self._check_ablations(ablations)
        self.check_inputs(
            source_image, texture_map, target_iuv, face_embeds, height, width, num_inference_steps,
            guidance_scale, latents, callback_on_step_end_tensor_inputs,
        )
        if debug_capture is not None and debug_hook is not None:
            raise ValueError("pass debug_capture (a dict to fill) or debug_hook (a callable), not both")
        report = IntermediateCapture(debug_capture) if debug_capture is not None else (debug_hook or _no_report)
        self._guidance_scale = guidance_scale
        device, dtype = self._execution_device, self._compute_dtype
        do_cfg = self.do_classifier_free_guidance
        bank = self.reference_bank
        previous_mask_fn = bank.attention_mask_fn
        if reference_attention_mask is not None:
            bank.attention_mask_fn = reference_attention_mask
        try:
            # 2. Preprocess the images (upstream dataset semantics, mcld.image_processor)
            source, texture, iuv = self.prepare_images(source_image, texture_map, target_iuv, height, width)
            batch, num_refs = texture.shape[:2]
            num_src = source.shape[1]
            _report_all(report, input_source_image=source, input_ref_image=texture, input_pose_image=iuv)

            # 3. Encode CLIP tokens of the source photo(s) and texture map(s)
            clip_src, pix_src = self.encode_clip_image(source.reshape(batch * num_src, *source.shape[2:]), device, dtype)
            clip_tex, pix_tex = self.encode_clip_image(texture.reshape(batch * num_refs, *texture.shape[2:]), device, dtype)
            clip_src = clip_src.reshape(batch, num_src, 1, -1)
            clip_tex = clip_tex.reshape(batch, num_refs, 1, -1)
            _report_all(report, clip_pixel_values_source=pix_src, clip_pixel_values_texture=pix_tex,
                        clip_embeds_source=clip_src[:, 0, 0], clip_embeds_texture=clip_tex[:, 0, 0])

            # 4. Encode the face embedding into face tokens
            face_tokens, face_used = self.encode_face(face_embeds, batch, device, dtype)
            _report_all(report, input_face_emb=face_used, face_tokens=face_tokens)

            # 5. Stage contexts, CFG order [uncond, cond]; zeros for uncond (facts s5, s7)
            src_token = clip_src.mean(dim=1)  # (B, 1, D); K = 1: the token itself
            tex_token = clip_tex.mean(dim=1)
            # Ablations (ABLATIONS): the named condition becomes the uncond rows' zeros.
            if "source_clip" in ablations:
                src_token, clip_src = torch.zeros_like(src_token), torch.zeros_like(clip_src)
            if "texture_clip" in ablations:
                tex_token = torch.zeros_like(tex_token)
            if "face_tokens" in ablations:
                face_tokens = torch.zeros_like(face_tokens)
            down = torch.cat([src_token, face_tokens], dim=1)
            mid = torch.cat([src_token, tex_token, face_tokens], dim=1)
            up = torch.cat([tex_token, face_tokens], dim=1)
            if do_cfg:
                down, mid, up = (torch.cat([torch.zeros_like(c), c]) for c in (down, mid, up))
            encoder_hidden_states, layout = pack_stage_contexts(down, mid, up)
            _report_all(report, enc_down_step0=down, enc_mid_step0=mid, enc_up_step0=up)

            # 6. Timesteps
            self.scheduler.set_timesteps(num_inference_steps, device=device)
            timesteps = self.scheduler.timesteps
            self._num_timesteps = len(timesteps)
            report("timesteps", timesteps)

            # 7. Initial latents
            latents = self.prepare_latents(batch, height, width, dtype, device, generator, latents)
            _report_all(report, init_noise=latents, latents_steps=latents)

            # 8. Reference pass (ReferenceNet at t = 0) fills the bank
            bank.clear()
            if reference_bank_dtype == "auto":
                reference_bank_dtype = torch.float16 if mode == "reference" else None
            bank.storage_dtype = reference_bank_dtype
            bank.cache_projections = mode == "fast"
            bank.latent_hw = (height // self.vae_scale_factor, width // self.vae_scale_factor)
            ref_context = clip_src.expand(batch, num_refs, 1, clip_src.shape[-1]) if num_src == 1 else clip_src
            if "reference_attention" in ablations:
                report("refbank", {})
            else:
                self.encode_reference(texture, ref_context, mode, do_cfg, report)
            bank.num_uncond_rows = batch if do_cfg else 0

            # 9. Pose features, computed once, added to conv_in's output at every step
            pose_input = iuv_to_pose_guider_input(iuv, device=device, dtype=self.pose_guider.dtype)
            pose_features = self.pose_guider(pose_input).to(dtype)
            _report_all(report, pose_guider_input=pose_input, pose_fea=pose_features)
            self.pose_injector.features = torch.cat([pose_features, pose_features]) if do_cfg else pose_features

            # 10. Denoising loop
            extra_step_kwargs = self._extra_step_kwargs(generator, eta)
            cross_attention_kwargs = {"context_layout": layout}
            with self.progress_bar(total=num_inference_steps) as progress_bar:
                for i, t in enumerate(timesteps):
                    latent_model_input = torch.cat([latents, latents]) if do_cfg else latents
                    latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
                    noise_pred_raw = self.denoising_unet(
                        latent_model_input, t, encoder_hidden_states=encoder_hidden_states,
                        cross_attention_kwargs=cross_attention_kwargs, return_dict=False,
                    )[0]
                    if do_cfg:
                        noise_pred_uncond, noise_pred_cond = noise_pred_raw.chunk(2)
                        noise_pred = noise_pred_uncond + self._guidance_scale * (noise_pred_cond - noise_pred_uncond)
                    else:
                        noise_pred = noise_pred_raw
                    latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
                    _report_all(report, unet_input_steps=latent_model_input, noise_pred_raw_steps=noise_pred_raw,
                                noise_pred_guided_steps=noise_pred, latents_steps=latents)
                    if callback_on_step_end is not None:
                        current = {
                            "latents": latents, "noise_pred": noise_pred, "noise_pred_raw": noise_pred_raw,
                            "encoder_hidden_states": encoder_hidden_states, "pose_features": pose_features,
                        }
                        callback_kwargs = {k: current[k] for k in callback_on_step_end_tensor_inputs}
                        outputs = callback_on_step_end(self, i, t, callback_kwargs) or {}
                        current = _apply_callback_outputs(current, outputs)
                        latents, encoder_hidden_states = current["latents"], current["encoder_hidden_states"]
                        if current["pose_features"] is not pose_features:
                            pose_features = current["pose_features"]
                            self.pose_injector.features = (
                                torch.cat([pose_features, pose_features]) if do_cfg else pose_features
                            )
                    progress_bar.update()

            # Checked once after the loop, not per step: a per-step check makes the
            # host wait for the GPU at every step (diffusers' DDIM step still reads
            # one timestep value on the host). Non-finite latents stay non-finite
            # through later steps, so nothing is missed.
            if not torch.isfinite(latents).all():
                raise NaNOutputError(
                    "Generation failed: the result contained invalid values. Try again with float32 or another seed.",
                    f"non-finite latents after the denoising loop ({num_inference_steps} steps)",
                )

            # 11. Decode and post-process (upstream test.py, mcld.image_processor)
            final_latents = latents.float()
            if output_type == "latent":
                images = post_large = post_small = None
            else:
                images, decoder_input, decoded = self.decode_latents(latents)
                post_large, post_small = (upstream_postprocess(images, size) for size in UPSTREAM_OUTPUT_SIZES)
                _report_all(report, vae_decode_input=decoder_input, vae_decode_output=decoded, image=images,
                            post_512x352_uint8=post_large, post_256x176_uint8=post_small)
                images, post_large, post_small = (convert_images(x, output_type) for x in (images, post_large, post_small))
            self.maybe_free_model_hooks()
        except torch.cuda.OutOfMemoryError as err:
            raise OutOfMemoryError(
                "The GPU ran out of memory. Try fewer steps, a smaller size or fewer references.", str(err)
            ) from err
        finally:
            bank.clear()
            bank.attention_mask_fn = previous_mask_fn
            self.pose_injector.features = None

        if not return_dict:
            return images, post_large, post_small, final_latents
        return MCLDPipelineOutput(images=images, images_512x352=post_large, images_256x176=post_small, latents=final_latents)

    def _extra_step_kwargs(self, generator, eta: float) -> Dict[str, Any]:
        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs


# Debug capture and callback outputs -----------------------------------------------


def _no_report(name: str, value: Any) -> None:
    """The default ``debug_hook``: keeps nothing."""


def _report_all(hook: Callable[[str, Any], None], **values: Any) -> None:
    """Tell ``hook`` each ``name=value`` in order."""
    for name, value in values.items():
        hook(name, value)


class IntermediateCapture:
    """A ``debug_hook`` for :meth:`MCLDPipeline.__call__` that keeps every intermediate by name.

    Tensors are stored as detached clones (so later in-place work cannot
    change them); a dict of tensors (``refbank``: ``{block path: (N, L, C)}``)
    is copied tensor by tensor; a name ending in ``_steps`` collects a list,
    one entry per report (``latents_steps[0]`` is the initial noise, then one
    per denoising step). Shapes and dtypes are the pipeline's own (see
    ``debug_capture`` in :meth:`MCLDPipeline.__call__`).

    Example::

        capture = IntermediateCapture()
        pipe(..., debug_hook=capture)
        capture.store["pose_fea"]  # (B, C0, h, w)

    Args:
        store: The dict to fill (default a new one), e.g. a caller's
            ``debug_capture``.

    Source:
        Names follow the golden set of upstream ``pipeline_pose2img_mcld.py``
        (``tests/test_pipeline_golden.py``).
    """

    def __init__(self, store: Optional[Dict[str, Any]] = None):
        self.store: Dict[str, Any] = {} if store is None else store

    def __call__(self, name: str, value: Any) -> None:
        """Keep ``value`` under ``name`` (appended to a list for ``*_steps`` names)."""
        if isinstance(value, torch.Tensor):
            value = value.detach().clone()
        elif isinstance(value, dict):
            value = {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in value.items()}
        if name.endswith("_steps"):
            self.store.setdefault(name, []).append(value)
        else:
            self.store[name] = value


def _apply_callback_outputs(current: Dict[str, torch.Tensor], outputs: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """``current`` with the tensors a ``callback_on_step_end`` returned.

    Args:
        current: The loop's tensors by name (the ``_callback_tensor_inputs``).
        outputs: The callback's return value; names outside ``current`` are
            ignored, as diffusers does.

    Returns:
        A new dict: ``current`` with every returned tensor in place.

    Raises:
        ValueError: If a replacement is not a tensor of the same shape, or a
            step output (``noise_pred``, ``noise_pred_raw``) is replaced.
    """
    updated = dict(current)
    for name, value in outputs.items():
        if name not in current or value is current[name]:
            continue
        if name in _STEP_OUTPUT_TENSORS:
            raise ValueError(
                f"callback_on_step_end returned a new {name!r}: it is an output of the step just taken and is "
                "recomputed at the next one, so replacing it could change nothing; replace 'latents' instead"
            )
        if not isinstance(value, torch.Tensor) or value.shape != current[name].shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"callback_on_step_end returned {name!r} of shape {got}; it must keep the shape "
                f"{tuple(current[name].shape)}"
            )
        updated[name] = value
    return updated
