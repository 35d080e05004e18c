"""Small files fetched at run time from a pinned URL and checked by sha256.

Used for files the package must not ship (upstream's UV texture template, the
demo's DeepFashion example photos): one download, checked before anything is
written, written atomically.

Source:
    Our own.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Union

__all__ = [
    "OFFLINE_ENV_VARS",
    "DownloadFailed",
    "ChecksumMismatch",
    "offline_requested",
    "sha256_hex",
    "download_pinned",
]

#: Environment variables that forbid downloads when set to ``1``/``true``/``yes``/``on``.
OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "MCLD_OFFLINE")
_OFFLINE_VALUES = {"1", "true", "yes", "on"}


class DownloadFailed(OSError):
    """The file could not be downloaded (no network, timeout, HTTP error, bad URL).

    Attributes:
        url: The URL asked.
        reason: One line: the error type and message (e.g. ``"HTTPError: HTTP Error 404: Not Found"``).
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"could not download {url}: {reason}")
        self.url, self.reason = url, reason


class ChecksumMismatch(ValueError):
    """The downloaded bytes do not have the pinned sha256; nothing was written.

    Attributes:
        url: The URL asked.
        got: sha256 (hex) of the bytes received.
        expected: The pinned sha256 (hex).
        size: Number of bytes received (at most ``max_bytes + 1``).
    """

    def __init__(self, url: str, got: str, expected: str, size: int):
        super().__init__(f"{url}: sha256 {got} ({size} bytes), expected {expected}; the file was not kept")
        self.url, self.got, self.expected, self.size = url, got, expected, size


def offline_requested(local_files_only: bool | None = None) -> bool:
    """Whether downloads are forbidden.

    Args:
        local_files_only: ``True``/``False`` decide; ``None`` reads
            :data:`OFFLINE_ENV_VARS` (any of them ``1``/``true``/``yes``/``on``,
            case-insensitive).

    Returns:
        True when no download may be attempted.
    """
    if local_files_only is not None:
        return bool(local_files_only)
    return any(os.environ.get(v, "").strip().lower() in _OFFLINE_VALUES for v in OFFLINE_ENV_VARS)


def sha256_hex(data: bytes) -> str:
    """sha256 of ``data`` as 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


def download_pinned(
    url: str,
    sha256: str,
    path: Union[str, os.PathLike],
    *,
    timeout: float = 10.0,
    max_bytes: int = 8 * 1024 * 1024,
) -> Path:
    """Download ``url``, check its sha256, then write it to ``path`` atomically.

    The body is read into memory (at most ``max_bytes + 1`` bytes), checked,
    written to a temporary file next to ``path`` and renamed onto it, so
    ``path`` is either absent, the old file, or the checked file. Parent
    folders are created only once the bytes are checked. It does not look at
    an existing ``path`` (callers check their cache first) and does not read
    :data:`OFFLINE_ENV_VARS` (callers decide with :func:`offline_requested`).

    Args:
        url: Where to fetch it (``https://``, or ``http://`` for a local test server).
        sha256: Expected sha256 (hex, any case) of the whole file.
        path: Destination file.
        timeout: Seconds for the connection and for each read.
        max_bytes: Longest file accepted; a longer body fails the sha256 check.

    Returns:
        ``Path(path)``, holding bytes with ``sha256``.

    Raises:
        DownloadFailed: no answer, timeout, HTTP error status, bad URL.
        ChecksumMismatch: the bytes differ from the pinned ones (nothing written).
    """
    target = Path(path)
    expected = sha256.lower()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - pinned URL
            data = response.read(max_bytes + 1)
    except (OSError, ValueError, http.client.HTTPException) as err:  # URLError, HTTPError, timeouts, DNS, bad URL
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        raise DownloadFailed(url, f"{type(err).__name__}: {reason}") from err
    got = sha256_hex(data)
    if got != expected:
        raise ChecksumMismatch(url, got, expected, len(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}.{threading.get_ident()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
