"""The demo's example photos and pairs: DeepFashion In-shop photos fetched at
run time from a pinned commit, scikit-image sample photos as the offline
fallback, and optional extra pairs from a Hub dataset.

The repository ships no photo of anyone. :func:`fetch_deepfashion_photos`
downloads three DeepFashion In-shop photos (:data:`DEEPFASHION_PHOTOS`) from
BadourAlBahar/pose-with-style at commit :data:`DEEPFASHION_COMMIT` (the
repository whose real DensePose IUVs ``assets/poses/`` ships), checks each
against its pinned sha256 and caches it under
``mcld.weights.default_cache_dir() / "examples"``. :func:`demo_example_rows`
turns them into source -> target pairs (:data:`DEEPFASHION_PAIRS`); where
they cannot be had (offline, no network, a bad download) it uses the
scikit-image photos (:data:`EXAMPLE_PHOTOS`, :func:`write_example_photos`)
and says so in one line.

Source:
    Our own. URLs, file names and sha256: BadourAlBahar/pose-with-style @
    f344f3bcad621cb2faf8b2cb83a1c38975871072 ``data/`` (MIT, (c) 2022 Badour
    AlBahar; the photos are DeepFashion In-shop images, non-commercial
    research/education use only); fallback photos from scikit-image's sample
    data.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..hub_files import ChecksumMismatch, DownloadFailed, download_pinned, offline_requested, sha256_hex

__all__ = [
    "EXAMPLE_PHOTOS",
    "write_example_photos",
    "load_examples_dataset",
    "DEEPFASHION_COMMIT",
    "DEEPFASHION_BASE_URL",
    "EXAMPLES_BASE_URL_ENV",
    "DeepFashionPhoto",
    "DEEPFASHION_PHOTOS",
    "DEEPFASHION_PAIRS",
    "ExampleFetch",
    "examples_cache_dir",
    "fetch_deepfashion_photos",
    "deepfashion_example_rows",
    "fallback_example_rows",
    "demo_example_rows",
]

_log = logging.getLogger(__name__)

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


# --- DeepFashion In-shop example photos, fetched at run time --------------------------

#: Commit of BadourAlBahar/pose-with-style the photos are pinned to.
DEEPFASHION_COMMIT = "f344f3bcad621cb2faf8b2cb83a1c38975871072"
#: Folder URL the photo files are fetched from (``<base>/<file name>``).
DEEPFASHION_BASE_URL = f"https://raw.githubusercontent.com/BadourAlBahar/pose-with-style/{DEEPFASHION_COMMIT}/data"
#: Environment variable that replaces :data:`DEEPFASHION_BASE_URL` (e.g. a mirror, or a test server).
EXAMPLES_BASE_URL_ENV = "MCLD_EXAMPLES_BASE_URL"
_DEEPFASHION_LICENCE = (
    "repository MIT, (c) 2022 Badour AlBahar; photo: DeepFashion In-shop, non-commercial research/education use only"
)
_MAX_PHOTO_BYTES = 2 * 1024 * 1024  # the real files are 150-200 kB


@dataclass(frozen=True)
class DeepFashionPhoto:
    """One pinned DeepFashion In-shop example photo.

    Attributes:
        name: Our short name (``"blouse_front"``).
        filename: File name upstream and in the cache (``data/<filename>`` at
            :data:`DEEPFASHION_COMMIT`).
        sha256: sha256 (hex) of the file's bytes at that commit.
        size: File size in bytes.
        label: What the photo shows, for people.
        licence: Licence line (repository licence and the photo's terms).
    """

    name: str
    filename: str
    sha256: str
    size: int
    label: str
    licence: str = _DEEPFASHION_LICENCE


#: The example photos: name -> :class:`DeepFashionPhoto`. All are 348 x 512 (W x H)
#: RGB PNGs, one woman each, framed from the head to the thighs or knees
#: (DeepFashion In-shop framing: the feet are out of frame).
DEEPFASHION_PHOTOS: dict[str, DeepFashionPhoto] = {
    p.name: p
    for p in (
        DeepFashionPhoto(
            "blouse_front",
            "fashionWOMENBlouses_Shirtsid0000635004_1front.png",
            "b99a4b539a53dcf47653326ef16c4f7476d2abc58c2f4c1c71db18d7c49b2138",
            176228,
            "black lace blouse and white trousers, front",
        ),
        DeepFashionPhoto(
            "skirt_front",
            "fashionWOMENSkirtsid0000177102_1front.png",
            "b6f9c0bdacb6d6f60806f7ab2b219a36ac4083fb192b56b448e5f9324d4dca65",
            155791,
            "black crop top and white tiered skirt, front",
        ),
        DeepFashionPhoto(
            "dress_back",
            "fashionWOMENDressesid0000262902_3back.png",
            "ef4c3c9f4c884db61b818ec7203081235c3ad0178a21122aaa12551f2122d798",
            191088,
            "floral sleeveless dress, back view (no face)",
        ),
    )
}
#: Example rows, ``(source, target)`` names of :data:`DEEPFASHION_PHOTOS`: the
#: source person is drawn in the target photo's pose.
DEEPFASHION_PAIRS: tuple[tuple[str, str], ...] = (
    ("blouse_front", "skirt_front"),
    ("skirt_front", "dress_back"),
    ("dress_back", "blouse_front"),
)

_FETCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExampleFetch:
    """What became of one example photo.

    Attributes:
        name: Key in :data:`DEEPFASHION_PHOTOS`.
        url: Where it is (or would be) fetched from.
        status: ``"cached"`` (checked file already there), ``"downloaded"``,
            ``"offline"`` (downloads forbidden, not cached), ``"unreachable"``
            (no answer, timeout, HTTP error), ``"skipped"`` (not tried: an
            earlier photo found the server unreachable), ``"corrupt"`` (the
            bytes failed the sha256 check; nothing was kept).
        path: The checked file, or ``None`` unless status is ``cached`` /
            ``downloaded``.
        detail: One line on why it failed (``""`` when it did not).
    """

    name: str
    url: str
    status: str
    path: Path | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether :attr:`path` holds the checked photo."""
        return self.path is not None


def examples_cache_dir(cache_dir: Union[str, os.PathLike, None] = None) -> Path:
    """Folder the DeepFashion example photos are cached in (whether or not it exists).

    Args:
        cache_dir: Cache root; default ``mcld.weights.default_cache_dir()``
            (``$MCLD_CACHE`` or ``~/.cache/mcld``).

    Returns:
        ``<cache_dir>/examples``.
    """
    if cache_dir is None:
        from ..weights import default_cache_dir

        cache_dir = default_cache_dir()
    return Path(cache_dir).expanduser() / "examples"


def fetch_deepfashion_photos(
    cache_dir: Union[str, os.PathLike, None] = None,
    *,
    local_files_only: bool | None = None,
    base_url: str | None = None,
    timeout: float = 5.0,
    names: tuple[str, ...] | None = None,
) -> dict[str, ExampleFetch]:
    """Make sure the DeepFashion example photos are cached; fetch the missing ones.

    Never raises for a network failure or a bad download: each photo gets an
    :class:`ExampleFetch` status. A cached file is re-checked against its
    sha256 on every call (about 0.2 MB each); one that fails is deleted and
    fetched again. After the first photo whose server does not answer
    (``"unreachable"`` with no HTTP status), the remaining uncached ones are
    ``"skipped"``, so an unreachable server costs one ``timeout``, not three.

    Args:
        cache_dir: Cache root (see :func:`examples_cache_dir`).
        local_files_only: Never download. ``None`` reads ``HF_HUB_OFFLINE`` /
            ``MCLD_OFFLINE`` (``1``/``true``/``yes``/``on``): then no request
            is made at all.
        base_url: Folder URL; default ``$MCLD_EXAMPLES_BASE_URL`` or
            :data:`DEEPFASHION_BASE_URL`. Each file is ``<base_url>/<filename>``.
        timeout: Seconds for the connection and each read, per photo.
        names: Which photos (keys of :data:`DEEPFASHION_PHOTOS`); default all.

    Returns:
        ``{name: ExampleFetch}`` in the order of ``names``.

    Raises:
        ValueError: an unknown name in ``names``.
    """
    names = tuple(DEEPFASHION_PHOTOS) if names is None else tuple(names)
    unknown = [n for n in names if n not in DEEPFASHION_PHOTOS]
    if unknown:
        raise ValueError(f"unknown example photo(s) {unknown}; choose from {sorted(DEEPFASHION_PHOTOS)}")
    base = (base_url or os.environ.get(EXAMPLES_BASE_URL_ENV) or DEEPFASHION_BASE_URL).rstrip("/")
    folder = examples_cache_dir(cache_dir)
    offline = offline_requested(local_files_only)
    out: dict[str, ExampleFetch] = {}
    down: str | None = None  # why the server is unreachable, once known
    with _FETCH_LOCK:
        for name in names:
            photo = DEEPFASHION_PHOTOS[name]
            url, target = f"{base}/{photo.filename}", folder / photo.filename
            if target.is_file():
                if sha256_hex(target.read_bytes()) == photo.sha256:
                    out[name] = ExampleFetch(name, url, "cached", target)
                    continue
                _log.warning("cached example photo %s fails its sha256 check; deleting it", target)
                target.unlink(missing_ok=True)
            if offline:
                out[name] = ExampleFetch(
                    name, url, "offline", detail="downloads are off: HF_HUB_OFFLINE or MCLD_OFFLINE is set"
                )
                continue
            if down is not None:
                out[name] = ExampleFetch(name, url, "skipped", detail=f"server unreachable ({down})")
                continue
            try:
                path = download_pinned(url, photo.sha256, target, timeout=timeout, max_bytes=_MAX_PHOTO_BYTES)
            except DownloadFailed as err:
                _log.warning("could not fetch example photo %s: %s", url, err.reason)
                if not isinstance(err.__cause__, urllib.error.HTTPError):  # no answer at all
                    down = err.reason
                out[name] = ExampleFetch(name, url, "unreachable", detail=err.reason)
                continue
            except ChecksumMismatch as err:
                _log.warning("example photo %s is corrupt: %s", url, err)
                out[name] = ExampleFetch(
                    name, url, "corrupt", detail=f"{photo.filename} failed its sha256 check and was not kept"
                )
                continue
            out[name] = ExampleFetch(name, url, "downloaded", path)
    return out


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" if parts.netloc else url


def deepfashion_example_rows(
    fetched: dict[str, ExampleFetch] | None = None, **fetch_kwargs
) -> tuple[list[list[str]], str | None]:
    """Example rows from the DeepFashion photos (:data:`DEEPFASHION_PAIRS`).

    Args:
        fetched: Result of :func:`fetch_deepfashion_photos`; ``None`` calls it
            with ``fetch_kwargs``.
        **fetch_kwargs: Passed to :func:`fetch_deepfashion_photos`.

    Returns:
        ``(rows, message)``: ``[[source_path, target_path], ...]`` for every
        pair whose two photos are cached (possibly ``[]``), and one sentence
        naming the photos that could not be fetched, from where and why
        (``None`` when all were had).
    """
    if fetched is None:
        fetched = fetch_deepfashion_photos(**fetch_kwargs)
    rows = [
        [str(fetched[s].path), str(fetched[t].path)]
        for s, t in DEEPFASHION_PAIRS
        if s in fetched and t in fetched and fetched[s].ok and fetched[t].ok
    ]
    failed = [f for f in fetched.values() if not f.ok]
    if not failed:
        return rows, None
    where = _host(failed[0].url.rsplit("/", 1)[0])
    reasons = list(dict.fromkeys(f.detail for f in failed if f.status != "skipped" and f.detail))
    what = (
        "The DeepFashion example photos"
        if len(failed) == len(fetched)
        else f"{len(failed)} of {len(fetched)} DeepFashion example photos ({', '.join(f.name for f in failed)})"
    )
    message = f"{what} could not be fetched from {where} ({'; '.join(reasons)})"
    return rows, message


def fallback_example_rows(directory: str | os.PathLike | None = None) -> list[list[str]]:
    """The offline example rows: the scikit-image photos, each as source and as target.

    Args:
        directory: Where to write them (see :func:`write_example_photos`).

    Returns:
        ``[[cameraman, astronaut], [astronaut, cameraman]]`` PNG paths.
    """
    photos = write_example_photos(directory)
    return [[str(photos["cameraman"]), str(photos["astronaut"])], [str(photos["astronaut"]), str(photos["cameraman"])]]


def demo_example_rows(**fetch_kwargs) -> tuple[list[list[str]], str | None]:
    """The demo's example rows: DeepFashion pairs when fetched, else the fallback.

    Args:
        **fetch_kwargs: Passed to :func:`fetch_deepfashion_photos` (``cache_dir``,
            ``local_files_only``, ``base_url``, ``timeout``).

    Returns:
        ``(rows, message)``. With at least one DeepFashion pair: those rows
        and ``None``, or one sentence naming the photos that are missing.
        With none (offline, unreachable, corrupt): :func:`fallback_example_rows`
        and one sentence saying the DeepFashion examples could not be fetched
        (from where, why) and that the scikit-image photos are used instead.
    """
    rows, message = deepfashion_example_rows(**fetch_kwargs)
    if rows:
        return rows, (f"{message}; the other examples are shown." if message else None)
    message = message or "No DeepFashion example pair was asked for"
    return fallback_example_rows(), f"{message}; the examples are scikit-image sample photos instead."
