"""Where a demo keeps its result PNGs, and each visitor's results history.

Source:
    Our own (the Space's results gallery and comparison sheet).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

from ..errors import MCLDError

__all__ = ["NoResultsError", "ResultsStore"]


class NoResultsError(MCLDError, ValueError):
    """A comparison sheet was asked for before any result (or after all expired)."""


class ResultsStore:
    """Result PNGs in one folder, bounded in count and age, shared by all visitors.

    Args:
        directory: The folder (created on first save); default
            ``<system temp>/mcld_results``.
        max_files: PNGs kept (all visitors together): the newest ones.
        max_age_s: Seconds a PNG is kept at most (older ones go on each save).
        max_history: Results one visitor's history keeps (newest first).

    Examples:
        >>> store = ResultsStore(max_files=10)
        >>> history = store.save(image, {"mode": "tiny", "seed": 1, "num_inference_steps": 4}, "caption", [])
    """

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        max_files: int = 200,
        max_age_s: float = 24 * 3600,
        max_history: int = 24,
    ):
        self.directory = Path(directory) if directory is not None else Path(tempfile.gettempdir()) / "mcld_results"
        self.max_files = int(max_files)
        self.max_age_s = float(max_age_s)
        self.max_history = int(max_history)

    def prune(self, now: float | None = None) -> None:
        """Delete PNGs older than :attr:`max_age_s` and all but the newest
        :attr:`max_files` (safe while other handlers prune too)."""
        now = time.time() if now is None else now
        found = []
        for path in self.directory.glob("mcld_*.png"):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:  # deleted meanwhile by another handler's prune
                continue
        found.sort(reverse=True)
        for rank, (mtime, path) in enumerate(found):
            if rank >= self.max_files or now - mtime > self.max_age_s:
                path.unlink(missing_ok=True)

    def _new_path(self, prefix: str) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prune()
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=".png", dir=self.directory)
        os.close(fd)
        return path

    def save_image(self, image, name: str) -> str:
        """Write one PNG (e.g. a comparison grid's sheet) into the store, pruned like results.

        Args:
            image: An RGB PIL image.
            name: File-name prefix after ``mcld_`` (e.g. ``"grid_4_images_"``).

        Returns:
            The PNG's path.
        """
        path = self._new_path(f"mcld_{name}")
        image.save(path)
        return path

    def save(self, image, settings: dict, caption: str, history: Sequence | None) -> list:
        """Write a result PNG (settings as JSON in its ``mcld_settings`` text
        chunk) and put it first in a visitor's history.

        Args:
            image: The result, an RGB PIL image.
            settings: JSON-serialisable settings (``mode``, ``seed`` and
                ``num_inference_steps`` name the file).
            caption: The gallery caption.
            history: The visitor's earlier ``(path, caption)`` pairs, newest first.

        Returns:
            The new history: this result, then the earlier ones whose file
            still exists, at most :attr:`max_history` entries.
        """
        from PIL.PngImagePlugin import PngInfo

        meta = PngInfo()
        meta.add_text("mcld_settings", json.dumps(settings))
        path = self._new_path(f"mcld_{settings['mode']}_s{settings['seed']}_steps{settings['num_inference_steps']}_")
        image.save(path, pnginfo=meta)
        kept = [tuple(item) for item in history or [] if os.path.exists(item[0])]
        return [(path, caption), *kept][: self.max_history]

    def comparison_sheet(self, history: Sequence | None) -> str:
        """All of a visitor's results in one captioned PNG, newest first.

        Every tile at the tallest result's height (at most 512 px), four per row.

        Args:
            history: ``[(png_path, caption), ...]``.

        Returns:
            The sheet's path, a PNG in :attr:`directory`.

        Raises:
            NoResultsError: no result yet (or all of them expired).
        """
        from PIL import Image

        from ..contact_sheet import contact_sheet

        items = [(path, caption) for path, caption in history or [] if os.path.exists(path)]
        if not items:
            raise NoResultsError("Generate a result first: the sheet puts the results gallery in one image.")
        images = []
        for path, _ in items:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        tile_height = min(512, max(image.height for image in images))
        sheet = contact_sheet(images, [c for _, c in items], columns=min(4, len(images)), tile_height=tile_height)
        path = self._new_path(f"mcld_sheet_{len(images)}_results_")
        sheet.save(path)
        return path
