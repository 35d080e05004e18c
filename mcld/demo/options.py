"""What a demo offers: its options (defaults and choices), where the target
pose comes from (:class:`TargetMode`) and its example rows.

Source:
    Our own (the Gradio Space of this repository); the defaults are
    :mod:`mcld.defaults` (upstream MCLD's inference settings).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from .. import defaults
from .errors import DemoInputError

__all__ = ["DemoOptions", "TargetMode", "example_rows", "examples_label"]


class TargetMode(str, enum.Enum):
    """Where the target pose comes from: a photo, or the pose gallery."""

    PHOTO = "photo"
    GALLERY = "gallery"

    @classmethod
    def of(cls, value) -> "TargetMode":
        """``value`` (a :class:`TargetMode`, its string, or ``None`` for
        :attr:`PHOTO`) as a mode.

        Raises:
            DemoInputError: any other value (the message lists the valid ones).
        """
        if value is None:
            return cls.PHOTO
        try:
            return cls(getattr(value, "value", value))
        except ValueError:
            valid = ", ".join(f"'{m.value}'" for m in cls)
            raise DemoInputError(f"Target mode must be one of {valid}, not {value!r}.") from None


@dataclass(frozen=True)
class DemoOptions:
    """What a demo offers: its defaults and choices.

    Attributes:
        tiny: Tiny random weights (outputs are noise).
        num_inference_steps: Default DDIM steps (tiny: 4, else upstream's 20).
        guidance_scale: Default classifier-free guidance scale.
        seed: Default seed.
        scheduler: Default scheduler name.
        output_sizes: Shown size -> :meth:`mcld.conditions.GenerationResult.image` size.
        texture_maps: Shown "Texture map" choice -> ``texture_fill``; the first is the default.
        max_edit_photos: Extra photos of "Edit regions" (after the source).
        output_size: Default output size ``"HxW"`` (one of ``output_sizes``).
    """

    tiny: bool = False
    num_inference_steps: int | None = None
    guidance_scale: float = defaults.GUIDANCE_SCALE
    seed: int = defaults.SEED
    scheduler: str = defaults.SCHEDULER
    output_sizes: tuple = defaults.OUTPUT_SIZES
    texture_maps: dict = field(default_factory=lambda: {"upstream (default)": "upstream", "clean fill": "clean"})
    max_edit_photos: int = 4
    output_size: str = defaults.OUTPUT_SIZE

    def __post_init__(self):
        if self.num_inference_steps is None:
            steps = defaults.TINY_NUM_INFERENCE_STEPS if self.tiny else defaults.NUM_INFERENCE_STEPS
            object.__setattr__(self, "num_inference_steps", steps)

    @property
    def photo_labels(self) -> tuple[str, ...]:
        """``("Source", "Photo 2", ...)``: every photo slot of an edit."""
        return ("Source", *(f"Photo {k}" for k in range(2, self.max_edit_photos + 2)))

    @property
    def texture_map(self) -> str:
        """The default "Texture map" choice: the first of :attr:`texture_maps`."""
        return next(iter(self.texture_maps))

    def texture_fill(self, choice: str) -> str:
        """A "Texture map" choice (its label or its value) -> ``texture_fill``.

        Raises:
            ValueError: an unknown choice (the message lists them).
        """
        if choice in self.texture_maps.values():
            return choice
        if choice not in self.texture_maps:
            raise ValueError(f"Texture map must be one of {', '.join(self.texture_maps)}, not '{choice}'.")
        return self.texture_maps[choice]


def example_rows() -> tuple[list[list[str]], str | None]:
    """Source/target example rows: DeepFashion In-shop photo pairs fetched at
    run time (:func:`mcld.gallery.examples.demo_example_rows`; offline or on a
    failed fetch, the scikit-image photos), plus the optional examples dataset
    (:func:`mcld.gallery.load_examples_dataset`).

    Returns:
        ``(rows, message)``: ``[[source_path, target_path], ...]`` and one
        line about photos that could not be fetched or the dataset, or ``None``.
    """
    from ..gallery.examples import demo_example_rows, load_examples_dataset

    rows, message = demo_example_rows()
    extra, extra_message = load_examples_dataset()
    return rows + extra, " ".join(m for m in (message, extra_message) if m) or None


def examples_label(rows) -> str:
    """The Examples table's label, naming the photo set the rows show.

    Args:
        rows: From :func:`example_rows`: ``[[source_path, target_path], ...]``.

    Returns:
        ``"Examples (DeepFashion In-shop photos, non-commercial research use; see
        examples/README.md)"`` when a row is a DeepFashion pair (by file name,
        :data:`mcld.gallery.examples.DEEPFASHION_PHOTOS`), else the
        scikit-image sample photos' label (the offline fallback), with
        ``"; more from the examples dataset"`` when other rows come too.
    """
    from ..gallery.examples import DEEPFASHION_PHOTOS, EXAMPLE_PHOTOS

    deepfashion = {p.filename for p in DEEPFASHION_PHOTOS.values()}
    fallback = {f"{name}.png" for name in EXAMPLE_PHOTOS}
    names = [{Path(p).name for p in row} for row in rows]
    if any(n <= deepfashion for n in names):
        shown = "DeepFashion In-shop photos, non-commercial research use"
    else:
        shown = "offline: scikit-image photos"
    if any(not (n <= deepfashion or n <= fallback) for n in names):
        shown += "; more from the examples dataset"
    return f"Examples ({shown}; see examples/README.md)"
