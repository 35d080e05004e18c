"""The UV texture annotator: photo + DensePose IUV in, SMPL-UV texture out.

:class:`UVTextureBuilder` wraps :func:`~.texture.build_uv_texture` in the
annotator contract of :mod:`mcld.annotators` and keeps its texture template
(upstream's ``texture_bg_200.png`` or the stand-in) on the instance, so the
template is located and decoded once per builder.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ...errors import WeightsNotFoundError
from ...image_utils import to_numpy_rgb
from .template import TEXTURE_TEMPLATE_URL, TextureTemplate, load_texture_template
from .texture import _FILLS, UVTexture, build_uv_texture

__all__ = ["UVTextureBuilder"]


class UVTextureBuilder:
    """UV texture map builder for MCLD's ReferenceNet input.

    The annotator contract: :meth:`from_pretrained` (a template file, or
    ``None`` for upstream's), :meth:`to`, :meth:`detect` (the
    :class:`~.texture.UVTexture` with atlas and masks) and ``__call__`` (the
    ``(512, 512, 3)`` SMPL-UV texture image).

    Args:
        template: The fill template, anything
            :func:`~.template.load_texture_template` takes; ``None``: upstream's
            file from the cache, fetched on first use, else the
            ``UV_Processed.mat`` stand-in (results then say
            ``approximate=True``). Loaded on first use and kept: a builder
            made while offline keeps the stand-in; build a new one after a
            fetch.
        fill: Hole filling (:func:`~.texture.inpaint_atlas`): ``"upstream"``
            (default), ``"clean"``, ``"valid"`` or ``"none"``.
        atlas_size: Texels per side of each atlas part (upstream: 200).
        out_size: SMPL-UV texture side in pixels (upstream: 512).
        cache_dir: Cache root for the template (default
            ``mcld.weights.default_cache_dir()``).
        local_files_only: Never download the template (``None``:
            ``HF_HUB_OFFLINE`` / ``MCLD_OFFLINE``).

    Raises:
        ValueError: unknown ``fill``.

    Example:
        >>> builder = UVTextureBuilder.from_pretrained()
        >>> builder(photo_rgb, iuv).size               # (512, 512) PIL texture
        >>> builder.detect(photo_rgb, iuv).approximate  # False with upstream's template

    Source:
        Upstream MCLD ``preprocess_data/texture_interface.py``
        ``convert_texture_inpainting`` (jqliu09/MCLD @ 6279ff7), via
        :func:`~.texture.build_uv_texture`.
    """

    def __init__(
        self,
        template: TextureTemplate | np.ndarray | str | os.PathLike | None = None,
        *,
        fill: str = "upstream",
        atlas_size: int = 200,
        out_size: int = 512,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool | None = None,
    ):
        if fill not in _FILLS:
            raise ValueError(f"fill must be one of {_FILLS}, got {fill!r}")
        self.template = template
        self.fill = fill
        self.atlas_size = int(atlas_size)
        self.out_size = int(out_size)
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self._template: TextureTemplate | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: str | os.PathLike | None = None, **kwargs) -> "UVTextureBuilder":
        """A builder on a local template image, or on upstream's template.

        Args:
            pretrained_model_or_path: A ``4 S x 6 S`` template image file (e.g.
                ``texture_bg_200.png``), or ``None`` for upstream's, fetched
                from :data:`~.template.TEXTURE_TEMPLATE_URL` into the cache on
                first use.
            **kwargs: Other :class:`UVTextureBuilder` arguments.

        Returns:
            :class:`UVTextureBuilder` (nothing is read yet).

        Raises:
            WeightsNotFoundError: the given file does not exist.
        """
        if pretrained_model_or_path is not None and not Path(pretrained_model_or_path).expanduser().is_file():
            raise WeightsNotFoundError(
                "The UV texture template file was not found.",
                detail=f"{pretrained_model_or_path}; upstream's is fetched from {TEXTURE_TEMPLATE_URL} when None is given",
            )
        return cls(pretrained_model_or_path, **kwargs)

    def to(self, device) -> "UVTextureBuilder":
        """Kept for the annotator contract: the texture is built with NumPy/OpenCV on the CPU.

        Returns:
            ``self``.
        """
        return self

    @property
    def texture_template(self) -> TextureTemplate | None:
        """The fill template (loaded on first access, then kept); ``None``
        unless ``fill == "upstream"``.

        Raises:
            CheckpointError: the template file is unreadable, or its download
                fails the sha256 check.
        """
        if self.fill != "upstream":
            return None
        with self._lock:
            if self._template is None:
                self._template = load_texture_template(
                    self.template, cache_dir=self.cache_dir, local_files_only=self.local_files_only, atlas_size=self.atlas_size
                )
            return self._template

    def detect(self, input_image, iuv: np.ndarray, *, pixel_mask: np.ndarray | None = None) -> UVTexture:
        """Build the UV texture of the person in a photo.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            iuv: ``(H, W, 3)`` uint8 DensePose IUV of the same frame, channels
                ``(I, U * 255, V * 255)``.
            pixel_mask: Optional ``(H, W)`` bool; only these photo pixels are used.

        Returns:
            :class:`~.texture.UVTexture` (``texture`` ``(512, 512, 3)`` uint8 RGB).

        Raises:
            InputImageError: ``input_image`` is not an image.
            ValueError: bad shapes or an IUV whose channel 0 is not a part index.
            CheckpointError: as :attr:`texture_template`.

        Source:
            :func:`~.texture.build_uv_texture`.
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(input_image))
        return build_uv_texture(
            rgb, np.asarray(iuv), self.atlas_size, self.out_size, pixel_mask, self.fill, template=self.texture_template
        )

    def __call__(self, input_image, iuv: np.ndarray, *, pixel_mask: np.ndarray | None = None, output_type: str = "pil"):
        """Annotator contract: the SMPL-UV texture image.

        Args:
            input_image: As :meth:`detect`.
            iuv: As :meth:`detect`.
            pixel_mask: As :meth:`detect`.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(out_size, out_size, 3)`` uint8 RGB texture (512x512 by
            default), PIL image or array: what MCLD's ReferenceNet takes.

        Raises:
            ValueError: unknown ``output_type``; as :meth:`detect`.

        Source:
            :func:`~.texture.build_uv_texture`.
        """
        from ..common import check_output_type, to_output

        check_output_type(output_type)
        return to_output(self.detect(input_image, iuv, pixel_mask=pixel_mask).texture, output_type)
