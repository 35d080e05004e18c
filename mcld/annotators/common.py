"""What every annotator of :mod:`mcld.annotators` shares: the output side of
the annotator contract.

The contract (controlnet_aux's, see ``STYLE.md`` section 2): each annotator
class has

* ``from_pretrained(pretrained_model_or_path=None, **kwargs)``: a local file
  or folder, a Hub repo id, or ``None`` for its default (or bundled) model;
* ``to(device)``, returning ``self``;
* ``detect(input_image, ...)``: the structured result (people, DensePose
  boxes and charts, a parsing map, a face embedding, a UV texture);
* ``__call__(input_image, ..., output_type="pil")``: the visual result, a PIL
  RGB image or an ``(H, W, 3)`` uint8 RGB array.

Inputs are PIL images or ``(H, W, 3)`` uint8 RGB arrays, normalised by
:func:`mcld.image_utils.to_numpy_rgb` (the one input normaliser). Models and
caches live on the instances; no module holds one.

Source:
    huggingface/controlnet_aux ``src/controlnet_aux/hed/__init__.py``
    (``from_pretrained`` / ``to`` / ``__call__(..., output_type)``); our own
    ``detect`` split.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["OUTPUT_TYPES", "check_output_type", "to_output"]

#: The values ``output_type`` takes: a PIL RGB image or a NumPy array.
OUTPUT_TYPES = ("pil", "np")


def check_output_type(output_type: str) -> str:
    """Refuse an ``output_type`` that is not ``"pil"`` or ``"np"``.

    Args:
        output_type: The caller's value.

    Returns:
        ``output_type`` unchanged.

    Raises:
        ValueError: any other value (the message names it).

    Source:
        Our own.
    """
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
    return output_type


def to_output(image: np.ndarray, output_type: str):
    """An annotator's visual result in the requested form.

    Args:
        image: ``(H, W, 3)`` uint8 RGB array.
        output_type: ``"pil"`` or ``"np"``.

    Returns:
        ``PIL.Image.Image`` (mode ``"RGB"``) for ``"pil"``, else ``image`` as a
        C-contiguous ``(H, W, 3)`` uint8 array.

    Raises:
        ValueError: unknown ``output_type``, or ``image`` not ``(H, W, 3)`` uint8.

    Source:
        Our own (controlnet_aux's ``output_type`` convention).
    """
    check_output_type(output_type)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"an annotator image must be (H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    arr = np.ascontiguousarray(arr)
    return Image.fromarray(arr, "RGB") if output_type == "pil" else arr
