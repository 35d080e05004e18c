"""Where the insightface antelopev2 face-identity models come from, and whether they work.

MCLD's face tokens come from insightface's ``antelopev2`` pack (upstream
``prepare_dataset.py`` runs ``FaceAnalysis(name="antelopev2")``). insightface's
own auto-download of that pack is unreliable, and the pack is not on a fresh
Space, so this module fetches the two files the embedding needs from a public
Hugging Face Hub mirror and checks that they work.

Default source: the Hub model repository ``DIAMONIK7777/antelopev2``
(:data:`DEFAULT_ANTELOPEV2_REPO`), a *flat* copy of the pack (the five ``.onnx``
files at the repository root: ``1k3d68.onnx``, ``2d106det.onnx``,
``genderage.onnx``, ``glintr100.onnx``, ``scrfd_10g_bnkps.onnx``). Evidence
that it is the pack and that it is flat:

- PuLID (ToTheBeginning/PuLID, ``pulid/pipeline_flux.py``) downloads it with
  ``snapshot_download('DIAMONIK7777/antelopev2', local_dir='models/antelopev2')``
  and then loads it with ``FaceAnalysis(name='antelopev2', root='.')`` and
  ``model_zoo.get_model('models/antelopev2/glintr100.onnx')``, which only works
  when the ``.onnx`` files sit at the repository root;
- other projects fetch single files from it by URL, e.g.
  ``https://huggingface.co/DIAMONIK7777/antelopev2/resolve/main/scrfd_10g_bnkps.onnx``,
  or loop ``hf_hub_download(repo_id="DIAMONIK7777/antelopev2", filename=f)``
  over the five names above.

Only the detector (``scrfd_10g_bnkps.onnx``, SCRFD-10GF with 5 landmarks) and
the recognizer (``glintr100.onnx``, ResNet100 ArcFace trained on Glint360K)
change the embedding; only they are downloaded (``hf_hub_download``, into the
Hub cache, ``$HF_HOME`` / ``$HF_HUB_CACHE``), about 270 MB.

Licence: the insightface *code* is MIT, but its pretrained models, antelopev2
included, "are available for non-commercial research purposes only"
(https://github.com/deepinsight/insightface/tree/master/python-package#license).

Lookup order (:func:`ensure_face_model`, :func:`find_antelopev2_pack`), first hit
wins:

1. an explicit ``root`` (only that place, plus an explicit ``repo_id``);
2. ``$MCLD_INSIGHTFACE_ROOT`` (a directory holding ``models/antelopev2/`` or
   the pack itself);
3. ``~/.insightface`` (insightface's default, ``models/antelopev2/``);
4. the Hub repository ``repo_id``, else ``$MCLD_INSIGHTFACE_REPO``, else
   :data:`DEFAULT_ANTELOPEV2_REPO` (offline, ``HF_HUB_OFFLINE=1``: only the Hub
   cache). A repository that nests the files in a folder is fetched with
   ``snapshot_download`` of those two names.

The zip nesting ``antelopev2/antelopev2/*.onnx`` is accepted everywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "ANTELOPEV2_FILES",
    "DEFAULT_ANTELOPEV2_REPO",
    "FACE_EMBEDDING_DIM",
    "FACE_MODEL_MISSING_WARNING",
    "FaceModelStatus",
    "check_antelopev2_pack",
    "ensure_face_model",
    "find_antelopev2_pack",
    "locate_face_model",
]

#: Detection and recognition models of the antelopev2 pack (the other three,
#: landmarks and gender/age, do not change the embedding and are not loaded).
ANTELOPEV2_FILES = ("scrfd_10g_bnkps.onnx", "glintr100.onnx")
#: Length of the ArcFace identity embedding.
FACE_EMBEDDING_DIM = 512
#: Public Hub mirror of the antelopev2 pack used when nothing else is configured.
DEFAULT_ANTELOPEV2_REPO = "DIAMONIK7777/antelopev2"
#: The one sentence every result carries when the face model is missing.
FACE_MODEL_MISSING_WARNING = (
    "Face identity is off: the face model (insightface antelopev2) is not available, "
    "so the face is generated without identity guidance."
)
#: ArcFace input side in pixels (insightface ``arcface_onnx.py``).
_ARCFACE_SIDE = 112


@dataclass(frozen=True)
class FaceModelStatus:
    """Which face-identity model a result used, and whether it worked.

    Attributes:
        name: Pack name (``"antelopev2"``).
        source: Where the pack was looked for or found: a Hub repository id
            (``"DIAMONIK7777/antelopev2"``) or a local directory.
        available: ``True`` when both ONNX files load with onnxruntime and the
            recognizer gives a 512-d embedding.
        message: One sentence for the user: which model runs, or why it does
            not (naming the files and where they are fetched from).
        pack_dir: Directory holding the two files, or ``None``.
        fetch_from: URL the files are downloaded from (``None`` for a local
            source).
        files: The file names checked (:data:`ANTELOPEV2_FILES`).

    Source:
        Ours (issue 10, item 4).
    """

    name: str
    source: str
    available: bool
    message: str
    pack_dir: str | None = None
    fetch_from: str | None = None
    files: tuple[str, ...] = ANTELOPEV2_FILES

    def as_dict(self) -> dict:
        """JSON-ready copy for a result's ``settings["face_model"]``.

        Returns:
            ``{"name", "source", "available", "message", "pack_dir",
            "fetch_from", "files"}`` (``files`` as a list).
        """
        out = asdict(self)
        out["files"] = list(self.files)
        return out

    @property
    def warning(self) -> str | None:
        """:data:`FACE_MODEL_MISSING_WARNING` when unavailable, else ``None``."""
        return None if self.available else FACE_MODEL_MISSING_WARNING

    def status_line(self) -> str:
        """One Markdown line for the UI status.

        Returns:
            ``"**Face identity: antelopev2** (from DIAMONIK7777/antelopev2)."``
            or ``"**Face identity: off.** "`` followed by :attr:`message`.
        """
        if self.available:
            return f"**Face identity: {self.name}** (from {self.source})."
        return f"**Face identity: off.** {self.message}"


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------


def _pack_in(directory: Path, name: str) -> Path | None:
    """The directory holding the pack's .onnx files under ``directory``."""
    candidates = [
        directory / "models" / name,
        directory / "models" / name / name,  # zip nesting
        directory,
        directory / name,
        directory / name / name,
    ]
    for cand in candidates:
        if all((cand / f).is_file() for f in ANTELOPEV2_FILES):
            return cand
    return None


def _offline_default() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def _hub_url(repo_id: str) -> str:
    from huggingface_hub import constants

    return f"{constants.ENDPOINT.rstrip('/')}/{repo_id}"


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else ""
    return f"{type(err).__name__}: {line[:limit]}{'...' if len(line) > limit else ''}"


def _from_hub(repo_id: str, name: str, local_files_only: bool) -> tuple[Path | None, str | None]:
    """``(pack directory, None)`` or ``(None, why it failed)``; downloads only the two files."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    try:
        paths = [Path(hf_hub_download(repo_id, f, local_files_only=local_files_only)) for f in ANTELOPEV2_FILES]
        return paths[0].parent, None
    except RemoteEntryNotFoundError as err:
        flat_error = err  # not at the repository root: try the nested layouts
    except LocalEntryNotFoundError as err:
        if not local_files_only:  # the Hub could not be reached, and the cache has no copy
            return None, f"the Hub could not be reached and the Hub cache has no copy ({_first_line(err)})"
        flat_error = err  # not cached flat: a nested layout may be
    except Exception as err:  # noqa: BLE001 - unknown repo, HTTP errors
        return None, _first_line(err)
    try:
        patterns = [f"*{f}" for f in ANTELOPEV2_FILES]
        snapshot = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=local_files_only))
    except Exception:  # noqa: BLE001 - the flat lookup's error says more
        return None, _first_line(flat_error)
    found = _pack_in(snapshot, name)
    if found is None:
        for onnx in sorted(snapshot.rglob(ANTELOPEV2_FILES[0])):
            found = _pack_in(onnx.parent, name)
            if found is not None:
                break
    return found, None if found is not None else f"the repository has no {' and '.join(ANTELOPEV2_FILES)}"


def _resolve(
    root, repo_id, name: str, local_files_only: bool | None
) -> tuple[Path | None, str, str | None, str | None]:
    """``(pack_dir, source, fetch_from, failure)`` following the module's lookup order."""
    if root is not None:
        places = [Path(root).expanduser()]
    else:
        places = []
        env = os.environ.get("MCLD_INSIGHTFACE_ROOT")
        if env:
            places.append(Path(env).expanduser())
        places.append(Path("~/.insightface").expanduser())
    for place in places:
        found = _pack_in(place, name)
        if found is not None:
            return found, str(place), None, None
    if repo_id is None and root is None:
        repo_id = os.environ.get("MCLD_INSIGHTFACE_REPO") or DEFAULT_ANTELOPEV2_REPO
    if not repo_id:
        return None, str(places[0]), None, f"no {' or '.join(ANTELOPEV2_FILES)} in {places[0]}"
    why_local = "offline: HF_HUB_OFFLINE=1" if local_files_only is None else "local_files_only"
    if local_files_only is None:
        local_files_only = _offline_default()
    found, failure = _from_hub(str(repo_id), name, bool(local_files_only))
    if failure and local_files_only:
        failure = f"not in the Hub cache, and downloads are off ({why_local})"
    return found, str(repo_id), _hub_url(str(repo_id)), failure


def find_antelopev2_pack(
    root: str | os.PathLike | None = None,
    repo_id: str | None = None,
    *,
    name: str = "antelopev2",
    local_files_only: bool | None = None,
) -> Path | None:
    """Locate (and if needed download) the insightface antelopev2 pack.

    Args:
        root: Directory holding ``models/antelopev2/`` or the pack itself.
            When given, only this place (and an explicit ``repo_id``) is
            searched.
        repo_id: Hugging Face Hub repository holding the pack's ``.onnx`` files
            (default, when ``root`` is ``None``: ``$MCLD_INSIGHTFACE_REPO``, else
            :data:`DEFAULT_ANTELOPEV2_REPO`).
        name: Pack name.
        local_files_only: Only use the Hub cache; default: true when
            ``HF_HUB_OFFLINE=1``.

    Returns:
        Directory containing ``scrfd_10g_bnkps.onnx`` and ``glintr100.onnx``,
        or ``None`` when not found (the files are not checked; see
        :func:`ensure_face_model`).

    Source:
        insightface ``utils/storage.py`` layout (``<root>/models/<name>``);
        the Hub mirror as in PuLID ``pulid/pipeline_flux.py``.
    """
    return _resolve(root, repo_id, name, local_files_only)[0]


def locate_face_model(
    *,
    root: str | os.PathLike | None = None,
    repo_id: str | None = None,
    name: str = "antelopev2",
    local_files_only: bool = True,
) -> tuple[Path | None, str, str | None]:
    """Where the pack is and where it comes from, without checking the files.

    Args:
        root: As in :func:`ensure_face_model`.
        repo_id: As in :func:`ensure_face_model`.
        name: Pack name.
        local_files_only: ``True`` (default): never download, only local places
            and the Hub cache (for start-up reports such as
            :func:`mcld.weights.weights_status`).

    Returns:
        ``(pack_dir or None, source, fetch_from)``: the directory holding
        :data:`ANTELOPEV2_FILES` if found; the repository id or directory
        searched; the download URL (``None`` for a local source).

    Source:
        Ours (the lookup order of this module).
    """
    pack, source, fetch_from, _ = _resolve(root, repo_id, name, local_files_only)
    return pack, source, fetch_from


# ---------------------------------------------------------------------------
# Check
# ---------------------------------------------------------------------------


def _session(path: Path, providers: Sequence[str]):
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=chosen)


def check_antelopev2_pack(pack_dir: str | os.PathLike, providers: Sequence[str] = ("CPUExecutionProvider",)) -> str | None:
    """Check that the pack's detector and recognizer work.

    The detector must load with onnxruntime and have the 9 or 15 outputs of an
    SCRFD model with landmarks (score, box and 5-point landmark maps per
    stride); the recognizer must load, take ``(1, 3, 112, 112)`` float32 input,
    and give a finite ``(1, 512)`` embedding in one forward pass on a
    mid-grey image.

    Args:
        pack_dir: Directory holding :data:`ANTELOPEV2_FILES`.
        providers: onnxruntime execution providers (unavailable ones are
            skipped; CPU is the fallback).

    Returns:
        ``None`` when both work, else one sentence naming the file and what is
        wrong with it.

    Source:
        insightface 0.7.3 ``model_zoo/model_zoo.py`` (routing by outputs and
        input size), ``model_zoo/retinaface.py`` (9 / 15 outputs with
        landmarks), ``model_zoo/arcface_onnx.py`` (112x112 input).
    """
    pack = Path(pack_dir)
    detector, recognizer = (pack / f for f in ANTELOPEV2_FILES)
    for path in (detector, recognizer):
        if not path.is_file():
            return f"{path.name} is missing from {pack}"
    try:
        det = _session(detector, providers)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises several kinds
        return f"the face detector {detector.name} could not be loaded by onnxruntime ({_first_line(err)})"
    n_out = len(det.get_outputs())
    if n_out not in (9, 15):
        return f"the face detector {detector.name} is not an SCRFD detector with landmarks ({n_out} outputs, expected 9 or 15)"
    try:
        rec = _session(recognizer, providers)
    except Exception as err:  # noqa: BLE001
        return f"the face recognizer {recognizer.name} could not be loaded by onnxruntime ({_first_line(err)})"
    inp = rec.get_inputs()[0]
    if len(inp.shape) != 4 or list(inp.shape[1:]) != [3, _ARCFACE_SIDE, _ARCFACE_SIDE]:
        return f"the face recognizer {recognizer.name} takes input {inp.shape}, not (N, 3, 112, 112)"
    try:
        out = rec.run(None, {inp.name: np.zeros((1, 3, _ARCFACE_SIDE, _ARCFACE_SIDE), np.float32)})[0]
    except Exception as err:  # noqa: BLE001
        return f"the face recognizer {recognizer.name} failed on a test image ({_first_line(err)})"
    out = np.asarray(out)
    if out.shape != (1, FACE_EMBEDDING_DIM) or not np.isfinite(out).all():
        return (
            f"the face recognizer {recognizer.name} gives a {out.shape} {'finite' if np.isfinite(out).all() else 'non-finite'} "
            f"output, not a 512-d embedding"
        )
    return None


def ensure_face_model(
    *,
    root: str | os.PathLike | None = None,
    repo_id: str | None = None,
    name: str = "antelopev2",
    local_files_only: bool | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> FaceModelStatus:
    """Find or download the antelopev2 detector and recognizer, and check them.

    Call it once at start-up (the Space calls it before ``launch()``): on a
    fresh machine it downloads ``scrfd_10g_bnkps.onnx`` and ``glintr100.onnx``
    from :data:`DEFAULT_ANTELOPEV2_REPO` into the Hub cache; later calls find
    them there. It never raises for a missing or broken model: the status says
    what is wrong.

    Args:
        root: Explicit pack directory (only this place is searched, plus an
            explicit ``repo_id``); default: the module's lookup order.
        repo_id: Hub repository (default ``$MCLD_INSIGHTFACE_REPO``, else
            :data:`DEFAULT_ANTELOPEV2_REPO`).
        name: Pack name.
        local_files_only: Do not download, use only the Hub cache; default:
            true when ``HF_HUB_OFFLINE=1``.
        providers: onnxruntime execution providers for the check.

    Returns:
        :class:`FaceModelStatus`; ``available`` is true only when both files
        load and the recognizer gives a 512-d embedding.

    Example:
        >>> status = ensure_face_model()
        >>> status.available, status.source
        (True, 'DIAMONIK7777/antelopev2')

    Source:
        Ours; the Hub mirror as in PuLID ``pulid/pipeline_flux.py``; the checks
        as insightface 0.7.3 ``model_zoo`` reads the files.
    """
    pack, source, fetch_from, failure = _resolve(root, repo_id, name, local_files_only)
    files = " and ".join(ANTELOPEV2_FILES)
    origin = f"from {fetch_from}" if fetch_from else f"in {source}"
    if pack is None:
        message = (
            f"The face model {name} ({files}, {origin}) is not available: {failure}. "
            "Faces are generated without identity guidance."
        )
        return FaceModelStatus(name, source, False, message, None, fetch_from)
    problem = check_antelopev2_pack(pack, providers)
    if problem is not None:
        message = (
            f"The face model {name} ({origin}) does not work: {problem} (files in {pack}). "
            "Faces are generated without identity guidance."
        )
        return FaceModelStatus(name, source, False, message, str(pack), fetch_from)
    message = f"Face identity: insightface {name} ({files}) {origin}."
    return FaceModelStatus(name, source, True, message, str(pack), fetch_from)
