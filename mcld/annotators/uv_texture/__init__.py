"""UV texture maps for MCLD's ReferenceNet: photo + DensePose IUV -> SMPL UV.

Example:
    >>> from mcld.annotators.uv_texture import UVTextureBuilder, build_uv_texture, ensure_texture_template
    >>> ensure_texture_template()                # start-up: fetch upstream's template once
    >>> tex = build_uv_texture(photo_rgb, iuv)   # iuv: (H, W, 3) uint8 (I, U*255, V*255)
    >>> tex.texture.shape, tex.approximate       # (512, 512, 3) uint8 RGB; False with the template
    >>> builder = UVTextureBuilder.from_pretrained()  # the annotator: template kept on the instance
    >>> builder(photo_rgb, iuv).size, builder.detect(photo_rgb, iuv).approximate  # ((512, 512), False)
"""

from .builder import UVTextureBuilder
from .fidelity import compare_textures
from .template import (
    APPROXIMATE_TEXTURE_NOTE,
    TEXTURE_TEMPLATE_FILENAME,
    TEXTURE_TEMPLATE_SHA256,
    TEXTURE_TEMPLATE_URL,
    TextureTemplate,
    ensure_texture_template,
    load_texture_template,
    read_texture_template,
    texture_template_path,
)
from .texture import (
    NUM_PARTS,
    TEXTURE_FILLS,
    UVTexture,
    atlas_to_grid,
    atlas_to_smpl_uv,
    build_uv_texture,
    check_texture_fill,
    composite_atlases,
    inpaint_atlas,
    part_valid_masks,
    scatter_to_atlas,
)

__all__ = [
    "APPROXIMATE_TEXTURE_NOTE",
    "NUM_PARTS",
    "TEXTURE_FILLS",
    "TEXTURE_TEMPLATE_FILENAME",
    "TEXTURE_TEMPLATE_SHA256",
    "TEXTURE_TEMPLATE_URL",
    "TextureTemplate",
    "UVTexture",
    "UVTextureBuilder",
    "atlas_to_grid",
    "atlas_to_smpl_uv",
    "build_uv_texture",
    "check_texture_fill",
    "compare_textures",
    "composite_atlases",
    "ensure_texture_template",
    "inpaint_atlas",
    "load_texture_template",
    "part_valid_masks",
    "read_texture_template",
    "scatter_to_atlas",
    "texture_template_path",
]
