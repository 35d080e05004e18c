"""The demo's example photos (licensed, written from installed packages) and
optional extra example pairs from a Hub dataset.

Source:
    Our own; photos from scikit-image's sample data (see :data:`EXAMPLE_PHOTOS`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["EXAMPLE_PHOTOS", "write_example_photos", "load_examples_dataset"]

#: Example photos the demo may ship: name -> (loader, source, licence).
EXAMPLE_PHOTOS: dict[str, tuple[str, str, str]] = {
    "astronaut": (
        "skimage.data.astronaut",
        "scikit-image sample data: Eileen Collins, NASA Great Images database",
        "public domain (NASA; no known copyright restrictions)",
    ),
    "cameraman": (
        "skimage.data.camera",
        "scikit-image sample data (since 0.18): photographer Lav Varshney",
        "CC0 (no copyright restrictions)",
    ),
}


def _example_array(name: str) -> np.ndarray:
    from skimage import data

    if name == "astronaut":
        return data.astronaut()
    if name == "cameraman":
        return np.stack([data.camera()] * 3, axis=-1)
    raise ValueError(f"unknown example photo {name!r}; choose one of {sorted(EXAMPLE_PHOTOS)}")


def write_example_photos(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the licensed example photos (:data:`EXAMPLE_PHOTOS`) as PNG files.

    They come from installed packages (scikit-image sample data), so the
    repository ships no photo of anyone.

    Args:
        directory: Output folder; default ``<tmp>/mcld_examples``.

    Returns:
        ``{name: path}``; existing files are reused.

    Source:
        Our own.
    """
    from PIL import Image

    folder = Path(directory) if directory is not None else Path(tempfile.gettempdir()) / "mcld_examples"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in EXAMPLE_PHOTOS:
        path = folder / f"{name}.png"
        if not path.is_file():
            tmp = path.with_suffix(".tmp.png")
            Image.fromarray(_example_array(name)).save(tmp)
            tmp.replace(path)
        out[name] = path
    return out


def load_examples_dataset(repo_id: str | None = None) -> tuple[list[list[str]], str | None]:
    """Extra example pairs from a Hub dataset (``$MCLD_EXAMPLES_DATASET``).

    The dataset holds image files plus an optional ``pairs.csv`` (columns
    ``source,target``, paths relative to the dataset root); without it every
    two consecutive images form a pair.

    Args:
        repo_id: Dataset repo id; default ``$MCLD_EXAMPLES_DATASET`` (unset:
            nothing to load).

    Returns:
        ``(pairs, message)``: ``[[source_path, target_path], ...]`` and
        ``None``, or ``[]`` and one sentence saying why nothing was loaded
        (``message`` is ``None`` when no dataset is configured).

    Source:
        Our own.
    """
    import csv

    repo_id = repo_id or os.environ.get("MCLD_EXAMPLES_DATASET") or None
    if not repo_id:
        return [], None
    try:
        from huggingface_hub import snapshot_download

        root = Path(
            snapshot_download(
                repo_id, repo_type="dataset", allow_patterns=["*.png", "*.jpg", "*.jpeg", "*.webp", "pairs.csv"]
            )
        )
    except Exception as err:  # offline, private, missing: the demo goes on without them
        return [], f"Extra examples from dataset '{repo_id}' are unavailable ({type(err).__name__})."
    pairs: list[list[str]] = []
    csv_path = root / "pairs.csv"
    if csv_path.is_file():
        with csv_path.open(newline="") as f:
            for row in csv.DictReader(f):
                s, t = root / row.get("source", ""), root / row.get("target", "")
                if s.is_file() and t.is_file():
                    pairs.append([str(s), str(t)])
    else:
        images = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
        pairs = [[str(a), str(b)] for a, b in zip(images[0::2], images[1::2])]
    if not pairs:
        return [], f"Dataset '{repo_id}' has no usable example pairs."
    return pairs, None
