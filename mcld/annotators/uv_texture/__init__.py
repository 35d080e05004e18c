"""UV texture maps for MCLD's ReferenceNet: photo + DensePose IUV -> SMPL UV.

Example:
    >>> from mcld.annotators.uv_texture import build_uv_texture
    >>> tex = build_uv_texture(photo_rgb, iuv)   # iuv: (H, W, 3) uint8 (I, U*255, V*255)
    >>> tex.texture.shape                        # (512, 512, 3) uint8 RGB
"""

from .texture import (
    NUM_PARTS,
    UVTexture,
    atlas_to_grid,
    atlas_to_smpl_uv,
    build_uv_texture,
    composite_atlases,
    inpaint_atlas,
    part_valid_masks,
    scatter_to_atlas,
)

__all__ = [
    "NUM_PARTS",
    "UVTexture",
    "atlas_to_grid",
    "atlas_to_smpl_uv",
    "build_uv_texture",
    "composite_atlases",
    "inpaint_atlas",
    "part_valid_masks",
    "scatter_to_atlas",
]
