"""Human parsing: which region (face, hair, garments, limbs) each pixel shows.

Two parsers, one output:

* :class:`SCHPOnnxParser`: SCHP (ATR 18 labels at 512x512, or LIP 20 labels
  at 473x473) exported to ONNX, on onnxruntime. Weights: a local ``.onnx`` or
  ``hf_hub_download(DEFAULT_REPO_ID, DEFAULT_FILENAME)``
  (``yisol/IDM-VTON``, ``humanparsing/parsing_atr.onnx``).
* :class:`MediaPipeCoarseParser`: a geometric guess from MediaPipe's bundled
  selfie segmentation, face mesh and pose; ``source == "mediapipe-coarse"``.

Both return a :class:`ParsingResult` whose ``label_map`` is ``(H, W)``
``uint8`` with one region id per pixel:

== =============== ====================================== =====================================
id region          ATR labels                             LIP labels
== =============== ====================================== =====================================
0  background      background, bag                        background
1  face            face, sunglasses                       face, sunglasses
2  hair            hair, hat                              hair, hat
3  upper_garment   upper-clothes, scarf                   upper-clothes, coat, scarf
4  lower_garment   pants, skirt, belt                     pants, skirt
5  dress           dress                                  dress, jumpsuits
6  shoes           left-shoe, right-shoe                  left-shoe, right-shoe, socks
7  arms            left-arm, right-arm                    left-arm, right-arm, glove
8  legs            left-leg, right-leg                    left-leg, right-leg
== =============== ====================================== =====================================

The same tables as dicts: :data:`ATR_TO_REGION`, :data:`LIP_TO_REGION`.

Examples:
    >>> from mcld.annotators.human_parsing import HumanParser, draw_parsing_overlay
    >>> parser = HumanParser.from_pretrained()  # SCHP if available, else coarse (warns)
    >>> result = parser.detect(image_rgb)  # ParsingResult
    >>> top = result.mask("upper_garment")  # (H, W) bool
    >>> parsing_map = parser(image_rgb)  # PIL image, regions in REGION_COLORS
    >>> preview = draw_parsing_overlay(image_rgb, result)  # (H, W, 3) uint8
"""

from .draw import colorize_label_map, draw_parsing_overlay
from .mediapipe_coarse import MediaPipeCoarseParser
from .parser import DEFAULT_FILENAME, DEFAULT_REPO_ID, HumanParser, parse_person
from .regions import (
    ATR_LABELS,
    ATR_TO_REGION,
    LABEL_SETS,
    LIP_LABELS,
    LIP_TO_REGION,
    REGION_COLORS,
    REGION_IDS,
    REGIONS,
    ParsingResult,
    labels_to_regions,
)
from .schp_onnx import SCHP_MEAN_BGR, SCHP_STD_BGR, SCHPOnnxParser, schp_affine, schp_preprocess

__all__ = [
    "ATR_LABELS",
    "ATR_TO_REGION",
    "DEFAULT_FILENAME",
    "DEFAULT_REPO_ID",
    "HumanParser",
    "LABEL_SETS",
    "LIP_LABELS",
    "LIP_TO_REGION",
    "MediaPipeCoarseParser",
    "ParsingResult",
    "REGIONS",
    "REGION_COLORS",
    "REGION_IDS",
    "SCHPOnnxParser",
    "SCHP_MEAN_BGR",
    "SCHP_STD_BGR",
    "colorize_label_map",
    "draw_parsing_overlay",
    "labels_to_regions",
    "parse_person",
    "schp_affine",
    "schp_preprocess",
]
