"""The region vocabulary shared by every human parser, and the label tables of
the SCHP datasets (ATR, LIP) mapped onto it.

Regions (ids are the values stored in a region label map):

== =============== ===========================================================
id region          meaning
== =============== ===========================================================
0  background      not the person, or a carried object (bag)
1  face            facial skin, with sunglasses
2  hair            hair and anything worn on the head (hat)
3  upper_garment   top, coat, scarf; sleeves
4  lower_garment   trousers, shorts, skirt, belt
5  dress           one-piece garments (dress, jumpsuit)
6  shoes           shoes and socks
7  arms            bare arms and hands, gloves
8  legs            bare legs
== =============== ===========================================================

ATR (18 labels, SCHP ``atr``) to region:

======================== ============== ======================== ==============
ATR label                region         ATR label                region
======================== ============== ======================== ==============
0 Background             background     9 Left-shoe              shoes
1 Hat                    hair           10 Right-shoe            shoes
2 Hair                   hair           11 Face                  face
3 Sunglasses             face           12 Left-leg              legs
4 Upper-clothes          upper_garment  13 Right-leg             legs
5 Skirt                  lower_garment  14 Left-arm              arms
6 Pants                  lower_garment  15 Right-arm             arms
7 Dress                  dress          16 Bag                   background
8 Belt                   lower_garment  17 Scarf                 upper_garment
======================== ============== ======================== ==============

LIP (20 labels, SCHP ``lip``) to region:

======================== ============== ======================== ==============
LIP label                region         LIP label                region
======================== ============== ======================== ==============
0 Background             background     10 Jumpsuits             dress
1 Hat                    hair           11 Scarf                 upper_garment
2 Hair                   hair           12 Skirt                 lower_garment
3 Glove                  arms           13 Face                  face
4 Sunglasses             face           14 Left-arm              arms
5 Upper-clothes          upper_garment  15 Right-arm             arms
6 Dress                  dress          16 Left-leg              legs
7 Coat                   upper_garment  17 Right-leg             legs
8 Socks                  shoes          18 Left-shoe             shoes
9 Pants                  lower_garment  19 Right-shoe            shoes
======================== ============== ======================== ==============

Choices worth knowing: a hat goes with the hair (taking "hair" from a photo
takes its headwear too); a bag is background, so that it never feeds the body
texture; socks go with the shoes.

Source:
    Label lists from GoGoDuck912/Self-Correction-Human-Parsing
    ``simple_extractor.py`` (``dataset_settings``); the region mapping is ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "REGIONS",
    "REGION_IDS",
    "REGION_COLORS",
    "ATR_LABELS",
    "LIP_LABELS",
    "ATR_TO_REGION",
    "LIP_TO_REGION",
    "LABEL_SETS",
    "labels_to_regions",
    "ParsingResult",
]

#: Region names, indexed by region id (``REGIONS[0] == "background"``).
REGIONS: tuple[str, ...] = (
    "background",
    "face",
    "hair",
    "upper_garment",
    "lower_garment",
    "dress",
    "shoes",
    "arms",
    "legs",
)
#: Region name -> region id.
REGION_IDS: dict[str, int] = {name: i for i, name in enumerate(REGIONS)}

#: Region name -> display colour, RGB uint8 triple (used by the overlay).
REGION_COLORS: dict[str, tuple[int, int, int]] = {
    "background": (0, 0, 0),
    "face": (255, 200, 120),
    "hair": (140, 70, 20),
    "upper_garment": (230, 40, 60),
    "lower_garment": (40, 90, 230),
    "dress": (200, 60, 220),
    "shoes": (250, 230, 30),
    "arms": (40, 200, 80),
    "legs": (20, 200, 200),
}

#: ATR label names, indexed by ATR label id (18 labels).
ATR_LABELS: tuple[str, ...] = (
    "background", "hat", "hair", "sunglasses", "upper-clothes", "skirt", "pants", "dress", "belt",
    "left-shoe", "right-shoe", "face", "left-leg", "right-leg", "left-arm", "right-arm", "bag", "scarf",
)
#: LIP label names, indexed by LIP label id (20 labels).
LIP_LABELS: tuple[str, ...] = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks", "pants",
    "jumpsuits", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg", "left-shoe",
    "right-shoe",
)

#: ATR label name -> region name (see the module docstring table).
ATR_TO_REGION: dict[str, str] = {
    "background": "background", "hat": "hair", "hair": "hair", "sunglasses": "face",
    "upper-clothes": "upper_garment", "skirt": "lower_garment", "pants": "lower_garment", "dress": "dress",
    "belt": "lower_garment", "left-shoe": "shoes", "right-shoe": "shoes", "face": "face", "left-leg": "legs",
    "right-leg": "legs", "left-arm": "arms", "right-arm": "arms", "bag": "background", "scarf": "upper_garment",
}
#: LIP label name -> region name (see the module docstring table).
LIP_TO_REGION: dict[str, str] = {
    "background": "background", "hat": "hair", "hair": "hair", "glove": "arms", "sunglasses": "face",
    "upper-clothes": "upper_garment", "dress": "dress", "coat": "upper_garment", "socks": "shoes",
    "pants": "lower_garment", "jumpsuits": "dress", "scarf": "upper_garment", "skirt": "lower_garment",
    "face": "face", "left-arm": "arms", "right-arm": "arms", "left-leg": "legs", "right-leg": "legs",
    "left-shoe": "shoes", "right-shoe": "shoes",
}

#: Label-set name -> (label names, label -> region table, SCHP input size (H, W)).
LABEL_SETS: dict[str, tuple[tuple[str, ...], dict[str, str], tuple[int, int]]] = {
    "atr": (ATR_LABELS, ATR_TO_REGION, (512, 512)),
    "lip": (LIP_LABELS, LIP_TO_REGION, (473, 473)),
}


def labels_to_regions(label_map: np.ndarray, label_set: str) -> np.ndarray:
    """Map a dataset label map (ATR or LIP ids) to region ids.

    Args:
        label_map: ``(H, W)`` integer array of label ids of ``label_set``.
        label_set: ``"atr"`` or ``"lip"``.

    Returns:
        ``(H, W)`` ``uint8`` region ids (indices into :data:`REGIONS`).

    Raises:
        ValueError: unknown ``label_set``, or ids outside the label set.

    Source:
        Our own mapping (module docstring tables).
    """
    if label_set not in LABEL_SETS:
        raise ValueError(f"label_set must be one of {sorted(LABEL_SETS)}, got {label_set!r}")
    names, table, _ = LABEL_SETS[label_set]
    lut = np.array([REGION_IDS[table[name]] for name in names], dtype=np.uint8)
    label_map = np.asarray(label_map)
    if label_map.size and (label_map.min() < 0 or label_map.max() >= len(names)):
        raise ValueError(
            f"label ids must lie in [0, {len(names)}) for {label_set!r}, got [{label_map.min()}, {label_map.max()}]"
        )
    return lut[label_map]


@dataclass
class ParsingResult:
    """Output of a human parser.

    Attributes:
        label_map: ``(H, W)`` ``uint8`` region ids, one per pixel of the input
            image (indices into ``region_names``; 0 is background).
        source: Which parser made it: ``"schp-atr-onnx"``, ``"schp-lip-onnx"``
            or ``"mediapipe-coarse"`` (geometric guess from MediaPipe models,
            much rougher than SCHP).
        region_names: Region names indexed by id (:data:`REGIONS`).
        raw_labels: ``(H, W)`` ``uint8`` dataset labels (ATR or LIP ids)
            before mapping to regions; ``None`` for the coarse parser.
    """

    label_map: np.ndarray
    source: str
    region_names: tuple[str, ...] = REGIONS
    raw_labels: np.ndarray | None = field(default=None, repr=False)

    def mask(self, region: str) -> np.ndarray:
        """Return the ``(H, W)`` ``bool`` mask of one region.

        Raises:
            KeyError: ``region`` is not one of ``region_names``.
        """
        if region not in self.region_names:
            raise KeyError(f"unknown region {region!r}; choose from {list(self.region_names)}")
        return self.label_map == self.region_names.index(region)

    def present_regions(self, min_pixels: int = 1) -> list[str]:
        """Names of the non-background regions covering at least ``min_pixels`` pixels."""
        counts = np.bincount(self.label_map.ravel(), minlength=len(self.region_names))
        return [name for i, name in enumerate(self.region_names) if i > 0 and counts[i] >= min_pixels]
