"""A photo's human parsing as a demo shows it: the crop's overlay, a note
naming the parser and the regions found, and one colour legend.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

from .captions import parsing_name
from .people import person_index

__all__ = ["parse_photo", "parsing_legend_html"]


def parse_photo(services, photo_path, person=-1, label: str = "Source"):
    """Parse the person of a photo (the crop an edit uses) and draw the regions.

    Args:
        services: The :class:`mcld.demo.DemoServices` (locator and parser).
        photo_path: The photo's path, or ``None``.
        person: Person index, ``-1`` for the largest.
        label: The photo's label in the note (``"Source"``, ``"Photo 2"``...).

    Returns:
        ``(overlay, note)``: the ``(512, 352, 3)`` uint8 RGB crop with the
        regions drawn (``None`` without a photo) and a note naming the parser
        ("coarse parsing (MediaPipe)" for the fallback) and the regions found.
    """
    if not photo_path:
        return None, ""
    from ..annotators.human_parsing import draw_parsing_overlay, parse_person

    found = services.locator().locate_person(photo_path, person_index(person), what="edit")
    result = parse_person(services.parser(), found.crop, found.pose)
    regions = ", ".join(r.replace("_", " ") for r in result.present_regions()) or "none"
    people = len(found.people)
    who = "1 person" if people == 1 else f"{people} people; using person {found.person_index + 1}"
    note = f"{label}: {parsing_name(result.source)}. Regions: {regions}. ({who})"
    return draw_parsing_overlay(found.crop, result, legend=False), note


def parsing_legend_html() -> str:
    """One colour legend (HTML) for every parsing overlay (same colours for all)."""
    from ..annotators.human_parsing import REGION_COLORS, REGIONS

    items = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:14px;white-space:nowrap">'
        f'<span style="width:14px;height:14px;border:1px solid #888;margin-right:5px;'
        f'background:rgb{tuple(REGION_COLORS[name])}"></span>{name.replace("_", " ")}</span>'
        for name in REGIONS[1:]
    )
    return f'<div id="parsing-legend-items" style="line-height:1.9">Parsing colours: {items}</div>'
