"""Bad uploads through the running Space (``MCLD_TINY=1 python app.py``) with
``gradio_client``: the visitor-facing message reaches the client, and a good
request afterwards still returns an image. Also the app's limits (upload size,
queue) and a source scan for unsafe unpickling.
"""

from __future__ import annotations

import json
import asyncio
import queue
import re
from pathlib import Path

import pytest
from PIL import Image

from tools.appserver import REPO_ROOT, generate_kwargs, run_app
from tests.robustness.corpus import SHARED_PERSON, build_image_corpus

gradio_client = pytest.importorskip("gradio_client")

GENERIC = "has not enabled verbose error reporting"


@pytest.fixture(scope="module")
def corpus(images_dir, tmp_path_factory):
    return {c.name: c for c in build_image_corpus(images_dir, tmp_path_factory.mktemp("app_corpus"))}


@pytest.fixture(scope="module")
def app(test_output_dir):
    with run_app(test_output_dir / "robustness_app.log") as (url, proc):
        yield url, proc


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app[0], verbose=False)


def _error_text(excinfo) -> str:
    text = str(excinfo.value)
    assert GENERIC not in text, f"the visitor gets Gradio's generic text, not ours: {text!r}"
    return text.lower()


def _image_of(out) -> Image.Image:
    item = out[0][0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    return Image.open(path)


def _generate_logs(client, **kwargs) -> tuple[list, list[str]]:
    """Run ``/generate``; return its outputs and the ``gr.Warning``/``gr.Info``
    texts the server sent with it."""
    job = client.submit(**kwargs)
    out = job.result(timeout=300)
    logs: list[str] = []
    updates = job.communicator.updates if job.communicator else queue.Queue()
    while True:
        try:
            update = updates.get_nowait()
        except (queue.Empty, asyncio.QueueEmpty):
            break
        log = getattr(update, "log", None)
        if log:
            logs.append(str(log[0]))
    return out, logs


def _assert_good_generate(client, images_dir: Path, seed: int = 0) -> None:
    out = client.predict(**generate_kwargs(images_dir / SHARED_PERSON, images_dir / "reference_img_1.png", seed=seed))
    image = _image_of(out)
    assert image.size == (176, 256)
    assert json.loads(image.text["mcld_settings"])["seed"] == seed


def test_bad_files_give_clear_messages_then_good_requests_work(client, corpus, images_dir):
    """Every rejected file (except the over-size one, refused before upload)
    as the source, then as the target; a cheap good request after each one,
    and a full good generation at the end."""
    good_source = images_dir / SHARED_PERSON
    failures = []
    for case in corpus.values():
        if case.outcome != "error" or case.name == "file_100mb":
            continue
        for role in ("source", "target"):
            kwargs = (
                generate_kwargs(case.path, images_dir / "reference_img_1.png")
                if role == "source"
                else generate_kwargs(good_source, case.path)
            )
            try:
                client.predict(**kwargs)
                failures.append(f"{case.name} as {role}: accepted")
                continue
            except Exception as err:  # gradio_client raises AppError (an Exception)
                text = str(err)
            if GENERIC in text or case.fragment not in text.lower():
                failures.append(f"{case.name} as {role}: {text!r} lacks {case.fragment!r}")
        overlay, idx, note = client.predict(gradio_client.handle_file(str(good_source)), api_name="/detect_source")
        assert idx == 0 and Image.open(overlay).size == (420, 560)
    assert not failures, "\n".join(failures)
    _assert_good_generate(client, images_dir, seed=11)


def test_accepted_formats_and_notes_reach_the_client(client, corpus, images_dir):
    """Formats Gradio would re-encode (16-bit, CMYK) and rotated/several people
    are generated; the notes reach the client (in the status line, the last
    output, since notes are no longer repeated as toasts; or as a warning)."""
    target = images_dir / "reference_img_1.png"
    for name in ("png_16bit", "exif_orientation_6"):
        out = client.predict(**generate_kwargs(corpus[name].path, target))
        assert _image_of(out).size == (176, 256), name
    for name, fragment in (("two_people", "using the largest"), ("lying_down_90", "lying down")):
        out, logs = _generate_logs(client, **generate_kwargs(corpus[name].path, target))
        assert _image_of(out).size == (176, 256)
        status = out[-1]
        assert any(fragment in text for text in [*logs, status]), (name, status, logs)
    overlay, idx, note = client.predict(gradio_client.handle_file(str(corpus["two_people"].path)), api_name="/detect_source")
    assert "2 people" in note


def test_upload_over_the_size_limit_is_refused(app, client, corpus, images_dir):
    """``max_file_size`` is set: the client refuses the 100 MB file before
    sending it, and the server refuses it when sent anyway (HTTP 413)."""
    import httpx

    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(**generate_kwargs(corpus["file_100mb"].path, images_dir / "reference_img_1.png"))
    url = app[0].rstrip("/") + "/gradio_api/upload"
    with open(corpus["file_100mb"].path, "rb") as fh:
        resp = httpx.post(url, files={"files": ("big.jpg", fh, "image/jpeg")}, timeout=60)
    assert resp.status_code == 413, (resp.status_code, resp.text[:200])
    _assert_good_generate(client, images_dir, seed=12)


# Limits in the source ----------------------------------------------------------


def test_app_sets_limits_in_launch():
    """``app.py`` sets an upload limit and a bounded queue with a concurrency
    limit, and adds no ``allowed_paths`` (outputs are served from Gradio's
    cache; the results folder is bounded by ``_prune_results``)."""
    src = (REPO_ROOT / "app.py").read_text()
    launch = src[src.index("demo.launch(") :]
    assert "max_file_size=MAX_FILE_BYTES" in launch
    assert re.search(r"\.queue\(\s*max_size=", src) and "default_concurrency_limit=" in src
    assert "allowed_paths=" not in launch, "every output reaches Gradio's cache; no folder needs serving"
    assert "PhotoInput(" in src and 'gr.Image(type="filepath"' not in src, "uploads must go through PhotoInput"


def _call_text(code: str, open_paren: int) -> str:
    """The text of a call from its ``(`` to the matching ``)``."""
    depth = 0
    for i in range(open_paren, len(code)):
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        if depth == 0:
            return code[open_paren : i + 1]
    return code[open_paren:]


def _python_sources() -> list[Path]:
    files = sorted((REPO_ROOT / "mcld").rglob("*.py")) + [REPO_ROOT / "app.py"]
    return [f for f in files if f.is_file()]


def test_no_unsafe_unpickling_in_package_source():
    """Every ``torch.load(`` passes ``weights_only=True``; ``pickle.load`` /
    ``pickle.loads`` / ``np.load(..., allow_pickle=True)`` appear nowhere but in
    DensePose's restricted unpickler module."""
    offenders = []
    allowed_pickle = REPO_ROOT / "mcld" / "annotators" / "densepose" / "checkpoint.py"
    for path in _python_sources():
        text = path.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        for match in re.finditer(r"torch\.load\(", code):
            call = _call_text(code, match.end() - 1)
            if "``" in code[max(0, match.start() - 2) : match.start()]:
                continue  # a docstring mention
            if "weights_only=True" not in call:
                offenders.append(f"{path.relative_to(REPO_ROOT)}: {call}")
        if re.search(r"\bpickle\.loads?\(|cPickle|dill\.load|joblib\.load", code) and path != allowed_pickle:
            offenders.append(f"{path.relative_to(REPO_ROOT)}: pickle.load outside the restricted unpickler")
        if re.search(r"allow_pickle\s*=\s*True", code):
            offenders.append(f"{path.relative_to(REPO_ROOT)}: np.load(allow_pickle=True)")
    assert not offenders, "\n".join(offenders)
    # the allowed module only unpickles through RestrictedUnpickler
    text = allowed_pickle.read_text()
    assert "pickle.load(" not in "\n".join(line.split("#", 1)[0] for line in text.splitlines() if "``" not in line)
    assert "RestrictedUnpickler(fh" in text


@pytest.mark.slow
def test_small_concurrent_load_every_request_accounted_for(app, corpus, images_dir):
    """A small version of ``bench/load_test.py``: 4 clients x 3 requests at
    once, good and bad mixed; every good one returns an image of the right
    size, every bad one its message, none is lost."""
    import concurrent.futures as cf

    kinds = ["good", "empty_upload", "no_person_noise"]

    def one_client(ci: int) -> list[str]:
        c = gradio_client.Client(app[0], verbose=False)
        outcomes = []
        for i in range(3):
            kind = kinds[(ci + i) % 3]
            src = images_dir / SHARED_PERSON if kind == "good" else corpus[kind].path
            try:
                out = c.predict(**generate_kwargs(src, images_dir / "reference_img_1.png", seed=ci * 10 + i))
                outcomes.append("ok" if kind == "good" and _image_of(out).size == (176, 256) else f"wrong {kind}")
            except Exception as err:
                good_msg = kind != "good" and corpus[kind].fragment in str(err).lower()
                outcomes.append("clear error" if good_msg else f"wrong {kind}: {err}")
        return outcomes

    with cf.ThreadPoolExecutor(4) as pool:
        results = [o for os_ in pool.map(one_client, range(4)) for o in os_]
    assert len(results) == 12
    assert results.count("ok") == 4 and results.count("clear error") == 8, results
