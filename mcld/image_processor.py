"""Image pre- and post-processing of :class:`~mcld.pipeline_mcld.MCLDPipeline`.

Every conversion between the images a caller passes and the tensors the
models read lives here, so the pipeline file holds only the recipe:

* :func:`to_image_tensor` / :func:`prepare_condition_images`: the source photo,
  the UV texture atlas and the target DensePose IUV (PIL, uint8 arrays or
  tensors) to float32 ``[0, 1]`` tensors, resized as upstream's dataset does.
* :func:`clip_preprocess`: an image to CLIP ViT-L/14 pixel values.
* :func:`texture_to_vae_input`: texture maps to VAE-encoder input in ``[-1, 1]``.
* :func:`iuv_to_pose_guider_input`: the IUV tensor to pose-guider input.
* :func:`vae_output_to_images`: VAE-decoder output to images in ``[0, 1]``.
* :func:`upstream_postprocess`: images to upstream ``test.py``'s 512x352 and
  256x176 uint8 outputs.
* :func:`convert_images`: a tensor batch to ``"pil"`` / ``"np"`` / ``"pt"``.

Conventions (``STYLE.md``): PIL images are 8-bit RGB; arrays are
``(H, W, 3)`` uint8 RGB; tensors are ``(B, 3, H, W)`` float32 in ``[0, 1]``
unless stated otherwise.

Source:
    Upstream ``jqliu09/MCLD`` @ 6279ff7 ``src/dataset/deepfashion_dataset.py``
    (input resizing, ``ToTensor``), ``src/pipelines/pipeline_pose2img_mcld.py``
    (CLIP processor, VAE in/out scaling) and ``test.py`` (post-processing);
    MCLD_REFERENCE_FACTS s4, s9.
"""

from __future__ import annotations

from typing import List, Tuple, Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

__all__ = [
    "CLIP_MEAN",
    "CLIP_SIZE",
    "CLIP_STD",
    "OUTPUT_TYPES",
    "UPSTREAM_OUTPUT_SIZES",
    "ImageLike",
    "clip_preprocess",
    "convert_images",
    "iuv_to_pose_guider_input",
    "prepare_condition_images",
    "texture_to_vae_input",
    "to_image_tensor",
    "upstream_postprocess",
    "vae_output_to_images",
]

#: ``(height, width)`` of upstream's post-processed outputs (``test.py``).
UPSTREAM_OUTPUT_SIZES = ((512, 352), (256, 176))
#: CLIPImageProcessor() defaults (OpenAI CLIP mean/std, 224 px).
CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: ``output_type`` values :func:`convert_images` accepts (the pipeline adds ``"latent"``).
OUTPUT_TYPES = ("pil", "np", "pt")

ImageLike = Union[PIL.Image.Image, np.ndarray, torch.Tensor]


def _pil_to_tensor(image: PIL.Image.Image) -> torch.Tensor:
    """PIL RGB -> ``(3, H, W)`` float32 in ``[0, 1]`` (torchvision ``ToTensor`` semantics)."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)


def _resize_pil(image: PIL.Image.Image, height: int, width: int) -> PIL.Image.Image:
    """Upstream dataset resize: PIL bicubic to ``(width, height)`` (facts s4)."""
    image = image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), PIL.Image.BICUBIC)
    return image


def to_image_tensor(
    image: ImageLike, name: str, height: int, width: int, check_tensor_size: bool = True
) -> torch.Tensor:
    """One image input -> ``(B, 3, height, width)`` float32 in ``[0, 1]`` on the CPU.

    PIL images and ``(H, W, 3)`` uint8 RGB arrays are converted to RGB,
    PIL-bicubic-resized to ``(height, width)`` (a non-square photo is
    squashed, as upstream's dataset does) and scaled by 1/255 (``ToTensor``).
    Tensors are taken as they are (cast to float32, moved to the CPU).

    Args:
        image: PIL image, ``(H, W, 3)`` uint8 RGB array, or a float tensor
            ``(3, H, W)`` / ``(B, 3, H, W)`` with values in ``[0, 1]``.
        name: Argument name used in error messages (e.g. ``"target_iuv"``).
        height: Model height in pixels.
        width: Model width in pixels.
        check_tensor_size: Require a tensor to be ``height x width`` already.

    Returns:
        ``(B, 3, height, width)`` float32 in ``[0, 1]`` (``B = 1`` for PIL and
        arrays; a tensor with ``check_tensor_size=False`` keeps its size).

    Raises:
        ValueError: For an array that is not ``(H, W, 3)`` uint8, a tensor of the
            wrong rank/channels/dtype, values outside ``[0, 1]`` or the wrong size.
        TypeError: For any other input type.

    Source:
        Upstream ``src/dataset/deepfashion_dataset.py`` (``Resize`` bicubic, ``ToTensor``); facts s4.
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{name}: arrays must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        image = PIL.Image.fromarray(image)
    if isinstance(image, PIL.Image.Image):
        image = _resize_pil(image, height, width)
        return _pil_to_tensor(image)[None]
    if isinstance(image, torch.Tensor):
        tensor = image[None] if image.ndim == 3 else image
        if tensor.ndim != 4 or tensor.shape[1] != 3:
            raise ValueError(f"{name}: tensors must be (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name}: tensors must be float in [0, 1], got {tensor.dtype}")
        lo, hi = float(tensor.min()), float(tensor.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name}: tensor values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
        if check_tensor_size and tuple(tensor.shape[-2:]) != (height, width):
            raise ValueError(
                f"{name}: tensor size {tuple(tensor.shape[-2:])} differs from (height, width) = {(height, width)}; "
                "resize it first or pass a PIL image"
            )
        return tensor.float().cpu()
    raise TypeError(f"{name}: expected a PIL image, an (H, W, 3) uint8 array or a tensor, got {type(image).__name__}")


def _resize_for_stack(tensor: torch.Tensor, size) -> torch.Tensor:
    """Bring differently sized source tensors to one size for stacking (CLIP resizes anyway)."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=tuple(size), mode="bicubic", antialias=True).clamp(0, 1)


def _stack_references(value, name: str, height: int, width: int, check_size: bool) -> torch.Tensor:
    """One input or a list of K -> ``(B, K, 3, H, W)`` float32 in ``[0, 1]``."""
    if isinstance(value, (list, tuple)):
        items = [to_image_tensor(v, f"{name}[{i}]", height, width, check_size) for i, v in enumerate(value)]
        if any(t.shape[0] != 1 for t in items):
            raise ValueError(f"{name}: a list holds K single images (one per reference), got batched tensors")
        items = [_resize_for_stack(t, items[0].shape[-2:]) for t in items]
        return torch.stack([t[0] for t in items])[None]
    if isinstance(value, torch.Tensor) and value.ndim == 5:
        batch, refs = value.shape[:2]
        flat = to_image_tensor(value.reshape(batch * refs, *value.shape[2:]), name, height, width, check_size)
        return flat.reshape(batch, refs, *flat.shape[1:])
    return to_image_tensor(value, name, height, width, check_size)[:, None]


def prepare_condition_images(
    source_image, texture_map, target_iuv, height: int, width: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turn the three image inputs into float tensors as upstream's dataset does.

    PIL images / uint8 arrays are bicubic-resized to ``(height, width)`` and
    scaled to ``[0, 1]`` (:func:`to_image_tensor`). A list of K texture maps
    (and optionally K source images) gives K references per sample; batch 1
    inputs are broadcast to the largest batch.

    Args:
        source_image: Source person photo: PIL / ``(H, W, 3)`` uint8 / tensor
            ``(B, 3, H, W)`` in ``[0, 1]`` (any size: it only feeds CLIP), or a
            list of K of these (one per reference, B = 1).
        texture_map: 512x512 SMPL UV texture atlas (RGB): PIL / array / tensor
            ``(B, 3, H, W)`` or ``(B, K, 3, H, W)`` in ``[0, 1]``, or a list of K
            PIL images.
        target_iuv: Target DensePose IUV image in upstream PIL channel order
            (R = V*255, G = U*255, B = part index 0..24): PIL / array / tensor
            ``(B, 3, H, W)`` in ``[0, 1]``.
        height: Model height in pixels.
        width: Model width in pixels.

    Returns:
        ``(source, texture, iuv)``: ``(B, Ks, 3, Hs, Ws)`` with Ks in {1, K},
        ``(B, K, 3, height, width)`` and ``(B, 3, height, width)``, float32 CPU
        in ``[0, 1]``.

    Raises:
        ValueError: For unusable inputs (named), mismatched batches, or a
            number of source images that is neither 1 nor K.
        TypeError: For an input of an unsupported type.

    Source:
        Upstream ``src/dataset/deepfashion_dataset.py``; facts s4.
    """
    # The source photo only feeds CLIP, so a tensor of any size is accepted.
    source = _stack_references(source_image, "source_image", height, width, check_size=False)
    texture = _stack_references(texture_map, "texture_map", height, width, check_size=True)
    iuv = to_image_tensor(target_iuv, "target_iuv", height, width)
    batch = max(source.shape[0], texture.shape[0], iuv.shape[0])
    for name, tensor in (("source_image", source), ("texture_map", texture), ("target_iuv", iuv)):
        if tensor.shape[0] not in (1, batch):
            raise ValueError(f"{name} has batch {tensor.shape[0]}, others have {batch}")
    source = source.expand(batch, *source.shape[1:])
    texture = texture.expand(batch, *texture.shape[1:])
    iuv = iuv.expand(batch, *iuv.shape[1:])
    if source.shape[1] not in (1, texture.shape[1]):
        raise ValueError(f"got {source.shape[1]} source images for {texture.shape[1]} texture maps; give 1 or K")
    return source, texture, iuv


def clip_preprocess(images: torch.Tensor) -> torch.Tensor:
    """``CLIPImageProcessor()`` defaults, implemented here so no backend choice can change them.

    Each image is turned into uint8 by truncating ``x * 255`` (upstream passes
    ``ToTensor(x) * 255``, whose values are exact integers), resized with PIL
    bicubic so that the shorter side is 224 (the longer side
    ``int(224 * long / short)``), centre-cropped to 224x224 (offsets
    ``(size - 224) // 2``), rescaled by 1/255 in float64 then cast to float32,
    and normalised with the OpenAI CLIP mean/std in float32. Bit-identical to
    transformers' ``CLIPImageProcessor`` PIL backend (checked against the
    golden ``clip_pixel_values_*``).

    Args:
        images: ``(B, 3, H, W)`` float in ``[0, 1]``, RGB (the source photo or
            the texture map).

    Returns:
        ``(B, 3, 224, 224)`` float32 CLIP pixel values (about ``[-1.8, 2.2]``).

    Source:
        Upstream ``src/pipelines/pipeline_pose2img.py`` L61 (``CLIPImageProcessor()``
        with library defaults); facts s4.
    """
    mean = np.asarray(CLIP_MEAN, dtype=np.float32)
    std = np.asarray(CLIP_STD, dtype=np.float32)
    out = []
    for image in images.detach().float().cpu():
        array = (image.clamp(0, 1) * 255).permute(1, 2, 0).numpy().astype(np.uint8)
        pil = PIL.Image.fromarray(array)
        width, height = pil.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = CLIP_SIZE, int(CLIP_SIZE * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
        if (new_w, new_h) != (width, height):
            pil = pil.resize((new_w, new_h), PIL.Image.BICUBIC)
        array = np.asarray(pil)
        top, left = (new_h - CLIP_SIZE) // 2, (new_w - CLIP_SIZE) // 2
        array = array[top : top + CLIP_SIZE, left : left + CLIP_SIZE]
        scaled = (array.astype(np.float64) * (1 / 255)).astype(np.float32)
        normed = (scaled - mean) / std
        out.append(torch.from_numpy(np.ascontiguousarray(normed.transpose(2, 0, 1))))
    return torch.stack(out)


def texture_to_vae_input(texture: torch.Tensor, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Texture maps -> VAE-encoder input.

    Args:
        texture: ``(B, K, 3, H, W)`` float in ``[0, 1]`` (K references per sample).
        device: Target device (``None``: unchanged).
        dtype: Target dtype (the VAE's).

    Returns:
        ``(B * K, 3, H, W)`` in ``[-1, 1]`` (``x * 2 - 1``), sample-major
        (sample 0's K references first).

    Source:
        Upstream ``pipeline_pose2img_mcld.py`` L172-180 (``ref_image * 2 - 1``).
    """
    pixels = texture.reshape(texture.shape[0] * texture.shape[1], *texture.shape[2:]) * 2 - 1
    return pixels.to(device=device, dtype=dtype)


def iuv_to_pose_guider_input(iuv: torch.Tensor, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """DensePose IUV tensor -> pose-guider input (values unchanged, as upstream feeds ``ToTensor`` output).

    Args:
        iuv: ``(B, 3, H, W)`` float in ``[0, 1]``, channels R = V, G = U,
            B = part index / 255 (upstream's PIL channel order).
        device: Target device (``None``: unchanged).
        dtype: Target dtype (the pose guider's).

    Returns:
        ``(B, 3, H, W)`` in ``dtype`` on ``device``, values in ``[0, 1]``.

    Source:
        Upstream ``pipeline_pose2img_mcld.py`` (``pose_guider(pose_cond_tensor)``); facts s4.
    """
    return iuv.to(device=device, dtype=dtype)


def vae_output_to_images(decoded: torch.Tensor) -> torch.Tensor:
    """VAE-decoder output -> images.

    Args:
        decoded: ``(B, 3, H, W)`` decoder sample, nominally in ``[-1, 1]``, any float dtype.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``: ``(x / 2 + 0.5).clamp(0, 1)``.

    Source:
        Upstream ``pipeline_pose2img_mcld.py`` ``decode_latents``.
    """
    return (decoded / 2 + 0.5).clamp(0, 1).float()


def upstream_postprocess(images: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Upstream ``test.py`` ``postprocess_image``: resize and quantise.

    Args:
        images: ``(B, 3, H, W)`` float in ``[0, 1]``.
        size: Output ``(height, width)`` in pixels, e.g. ``(512, 352)`` or
            ``(256, 176)`` (:data:`UPSTREAM_OUTPUT_SIZES`).

    Returns:
        ``(B, 3, height, width)`` uint8: ``F.interpolate(bicubic, antialias=True)``,
        ``* 255``, ``clamp(0, 255)``, truncating cast.

    Source:
        Upstream ``test.py`` L22-27; facts s9.
    """
    resized = F.interpolate(images.float(), size=size, mode="bicubic", antialias=True)
    return (resized * 255).clamp(0, 255).to(torch.uint8)


def convert_images(images: torch.Tensor, output_type: str) -> Union[torch.Tensor, np.ndarray, List[PIL.Image.Image]]:
    """A tensor batch -> the requested output type.

    Args:
        images: ``(B, 3, H, W)`` float32 in ``[0, 1]`` or uint8 in ``[0, 255]``.
        output_type: ``"pt"`` (the tensor on the CPU), ``"np"`` (``(B, H, W, 3)``,
            same dtype and range) or ``"pil"`` (list of B RGB images; float input
            is ``round(x * 255)``).

    Returns:
        The converted batch.

    Raises:
        ValueError: For another ``output_type``.
    """
    if output_type == "pt":
        return images.cpu()
    array = images.cpu().permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return array
    if output_type == "pil":
        if array.dtype != np.uint8:
            array = (array * 255).round().clip(0, 255).astype(np.uint8)
        return [PIL.Image.fromarray(a) for a in array]
    raise ValueError(f"output_type must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}")

