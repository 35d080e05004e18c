"""The Space builds on ZeroGPU as documented (issue 15): front matter, pins, packages, preload, Python 3.12.

The checker below reads the README front matter, ``requirements*.txt`` and
``packages.txt`` of a project folder and returns one message per broken rule,
each naming the rule and its source. The tests run it on this project, and on
modified copies to show that each rule can fail.

Rules (sources are quoted in the messages):

* ``python-version``: ``python_version`` is one ZeroGPU supports (hub-docs
  ``docs/hub/spaces-zerogpu.md``, *Supported Versions*: 3.12.12, 3.10.13;
  "Both ``"3.12"`` and ``"3.12.12"`` forms are accepted", hysts/huggingface-skills
  ``skills/huggingface-zerogpu/SKILL.md``).
* ``sdk-version``: ``sdk_version`` equals the gradio pin (the platform installs
  gradio at ``sdk_version``; hub-docs ``docs/hub/spaces-config-reference.md``).
* ``no-spaces``: ``requirements.txt`` does not list ``spaces`` (SKILL.md, *Do
  not pin ``spaces`` in requirements.txt*).
* ``torch-version``: torch is pinned, for the Space's Python, to a version on
  the ZeroGPU list (hub-docs page, *Supported Versions*).
* ``packages``: ``packages.txt`` has what the sdist build of insightface and
  OpenCV's import need (hub-docs ``docs/hub/spaces-dependencies.md``: "each line
  will be read and installed by ``apt-get install``").
* ``preload``: ``preload_from_hub`` holds every Hub file the code fetches at
  start-up, and ``startup_duration_timeout`` is a duration of at least the
  30-minute default (``spaces-config-reference.md``).
* ``license``: ``license: other`` comes with a ``license_name``
  (hub-docs ``docs/hub/repositories-licenses.md``) and the README's licence
  section names every preloaded repository.
* ``resolve`` (needs PyPI): the Space's requirements resolve for CPython 3.12
  on manylinux x86-64, binary wheels only (pip ``install --dry-run --report``).
  insightface has only an sdist, so it is checked separately: its sdist's own
  metadata (``insightface.egg-info/requires.txt``, ``pyproject.toml``'s build
  requirements) is read and those requirements join the binary-only resolution.
* ``py312-compile``: every source file compiles under Python 3.12.

PyPI's index as this machine sees it gives no PEP 658 metadata files, so pip
downloads the wheels (about 4 GB with PyPI's CUDA torch) to read their
metadata; a successful resolution is remembered for a day under
``$MCLD_CACHE/space_check/``, keyed by the exact requirement set and options.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mcld.zerogpu import ZEROGPU_DOCS_URL, ZEROGPU_PYTHON_VERSIONS, ZEROGPU_TORCH_VERSIONS

ROOT = Path(__file__).resolve().parents[1]

SRC_ZEROGPU = f"hub-docs docs/hub/spaces-zerogpu.md, 'Supported Versions' ({ZEROGPU_DOCS_URL})"
SRC_SKILL = "hysts/huggingface-skills skills/huggingface-zerogpu/SKILL.md"
SRC_CONFIG = "hub-docs docs/hub/spaces-config-reference.md"
SRC_DEPS = "hub-docs docs/hub/spaces-dependencies.md"
SRC_LICENSES = "hub-docs docs/hub/repositories-licenses.md"

#: Packages with no wheel on PyPI: checked through their sdist's metadata.
SDIST_ONLY = ("insightface",)
#: Debian packages packages.txt must list when a requirement is present, and why.
DEBIAN_NEEDS = [
    ("insightface", ("build-essential", "g++"), "insightface 0.7.3 is an sdist that builds a C++ extension (its setup.py)"),
    ("mediapipe", ("libgl1",), "mediapipe pulls in opencv-contrib-python, whose cv2 needs libGL.so.1 (ldd; Debian libgl1)"),
    ("mediapipe", ("libglib2.0-0",), "opencv-contrib-python's bundled Qt needs libglib-2.0.so.0 (ldd; Debian libglib2.0-0)"),
]
#: The manylinux tags a glibc-2.28 x86-64 host accepts (pip takes --platform literally).
MANYLINUX_X86_64 = [f"manylinux_2_{m}_x86_64" for m in range(28, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
RESOLVE_CACHE_MAX_AGE_S = 24 * 3600


# Reading the project ---------------------------------------------------------------


def read_front_matter(readme: Path) -> dict:
    """The YAML block between the first two ``---`` lines of a README (the Space config)."""
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not match:
        raise ValueError(f"{readme}: no YAML front matter ('---' block at the top)")
    return yaml.safe_load(match.group(1)) or {}


def space_python(front: dict) -> str | None:
    """The documented full version the front matter's ``python_version`` selects, else None."""
    wanted = str(front.get("python_version", ""))
    return next((v for v in ZEROGPU_PYTHON_VERSIONS if wanted in (v, v.rsplit(".", 1)[0])), None)


def marker_env(python_full: str) -> dict:
    """PEP 508 marker environment of CPython ``python_full`` on Linux x86-64 (the Space)."""
    return {
        "python_version": ".".join(python_full.split(".")[:2]),
        "python_full_version": python_full,
        "implementation_name": "cpython",
        "implementation_version": python_full,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "extra": "",
    }


def read_requirements(path: Path, env: dict) -> list[Requirement]:
    """Requirements of a pip file (following ``-r``) whose markers hold in ``env``."""
    out: list[Requirement] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += read_requirements(path.parent / line.split(None, 1)[1], env)
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            out.append(req)
    return out


def _pin(reqs: list[Requirement], name: str) -> str | None:
    """The ``==`` version of ``name`` in ``reqs`` (None when absent or not an exact pin)."""
    for req in reqs:
        if canonicalize_name(req.name) == canonicalize_name(name):
            specs = list(req.specifier)
            if len(specs) == 1 and specs[0].operator == "==":
                return specs[0].version
    return None


def _names(reqs: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in reqs}


def _preload_entries(front: dict) -> dict[str, set[str] | None]:
    """``preload_from_hub`` as repo -> set of files (None = the whole repository)."""
    out: dict[str, set[str] | None] = {}
    for item in front.get("preload_from_hub") or []:
        parts = str(item).split()
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"preload_from_hub entry {item!r} is not 'repo [file1,file2 [commit]]' ({SRC_CONFIG})")
        out[parts[0]] = set(parts[1].split(",")) if len(parts) > 1 else None
    return out


def _hub_files_fetched_at_startup() -> dict[str, set[str]]:
    """Hub repo -> files the code fetches at start-up, from the code's own defaults."""
    from mcld.annotators.face import ANTELOPEV2_FILES, DEFAULT_ANTELOPEV2_REPO
    from mcld.annotators.human_parsing import DEFAULT_FILENAME, DEFAULT_REPO_ID
    from mcld.weights import CHECKPOINT_FILES, DEFAULT_IMAGE_ENCODER, DEFAULT_MCLD_WEIGHTS, DEFAULT_VAE

    return {
        DEFAULT_MCLD_WEIGHTS: {names[0] for names in CHECKPOINT_FILES.values()},
        DEFAULT_VAE: {"config.json"},
        DEFAULT_IMAGE_ENCODER: {"image_encoder/config.json"},
        DEFAULT_REPO_ID: {DEFAULT_FILENAME},
        DEFAULT_ANTELOPEV2_REPO: set(ANTELOPEV2_FILES),
    }


def _duration_s(text: str) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", str(text))
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)] if match else None


# The checker ------------------------------------------------------------------------


def check_space_config(root: Path) -> list[str]:
    """Every broken static rule of the Space in ``root`` (README.md, requirements.txt, packages.txt).

    Returns:
        One ``"[rule] what is wrong (source)"`` line per broken rule; empty when all hold.
    """
    problems: list[str] = []
    front = read_front_matter(root / "README.md")
    python_full = space_python(front)
    if python_full is None:
        problems.append(
            f"[python-version] python_version {front.get('python_version')!r} is not a ZeroGPU Python; "
            f"supported: {', '.join(ZEROGPU_PYTHON_VERSIONS)} or their major.minor ({SRC_ZEROGPU}; {SRC_SKILL})"
        )
        python_full = ZEROGPU_PYTHON_VERSIONS[0]
    reqs = read_requirements(root / "requirements.txt", marker_env(python_full))

    gradio = _pin(reqs, "gradio")
    if str(front.get("sdk_version")) != str(gradio):
        problems.append(
            f"[sdk-version] sdk_version {front.get('sdk_version')!r} differs from the gradio pin {gradio!r} in requirements.txt "
            f"(the platform installs gradio at sdk_version; {SRC_CONFIG})"
        )
    if "spaces" in _names(reqs):
        problems.append(
            "[no-spaces] requirements.txt lists `spaces`: \"The Space platform pins its own `spaces` version. A conflicting pin "
            f"in `requirements.txt` causes pip resolution to fail at build time.\" ({SRC_SKILL}); pin it in requirements-local.txt"
        )
    torch_pins = [r for r in reqs if canonicalize_name(r.name) == "torch"]
    torch = _pin(torch_pins, "torch")
    if len(torch_pins) != 1 or torch not in ZEROGPU_TORCH_VERSIONS:
        problems.append(
            f"[torch-version] torch for Python {python_full} is {[str(r) for r in torch_pins]}, not one `==` pin on the "
            f"ZeroGPU list {', '.join(ZEROGPU_TORCH_VERSIONS)} ({SRC_ZEROGPU})"
        )

    packages_txt = root / "packages.txt"
    text = packages_txt.read_text(encoding="utf-8") if packages_txt.is_file() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("#"):
            problems.append(f"[packages] packages.txt has a comment ({line!r}); every line goes to `apt-get install` ({SRC_DEPS})")
    for trigger, choices, why in DEBIAN_NEEDS:
        if trigger in _names(reqs) and not set(choices) & set(lines):
            problems.append(f"[packages] packages.txt lacks {' or '.join(choices)}: {why} ({SRC_DEPS})")

    try:
        preload = _preload_entries(front)
    except ValueError as err:
        problems.append(f"[preload] {err}")
        preload = {}
    for repo, files in _hub_files_fetched_at_startup().items():
        if repo not in preload:
            problems.append(f"[preload] preload_from_hub lacks {repo}, which start-up downloads ({SRC_CONFIG})")
        elif preload[repo] is not None and not files <= preload[repo]:
            problems.append(f"[preload] preload_from_hub {repo} lacks {sorted(files - preload[repo])} ({SRC_CONFIG})")
    timeout = _duration_s(front.get("startup_duration_timeout", ""))
    if timeout is None or timeout < 30 * 60:
        problems.append(
            f"[preload] startup_duration_timeout {front.get('startup_duration_timeout')!r} is not a duration of at least the "
            f"30-minute default (\"any valid duration (like `1h`, `30m`)\", {SRC_CONFIG})"
        )

    license_id = front.get("license")
    if license_id == "other" and not front.get("license_name"):
        problems.append(f"[license] `license: other` needs a `license_name` ({SRC_LICENSES})")
    text = (root / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Licences\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if section is None:
        problems.append(f"[license] the README has no '## Licences' section stating the weights' licences ({SRC_LICENSES})")
    else:
        for repo in preload:
            if repo not in section.group(1):
                problems.append(f"[license] the README's Licences section does not name {repo}, which the Space runs ({SRC_LICENSES})")
    return problems


# PyPI -------------------------------------------------------------------------------


def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=8).close()
        return True
    except OSError:
        return False


needs_pypi = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI (https://pypi.org/simple/) is not reachable from here")


def _simple_index(name: str) -> dict:
    """PEP 691 JSON simple-index page of ``name`` on PyPI."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{canonicalize_name(name)}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def sdist_requirements(name: str, version: str) -> tuple[list[str], list[str]]:
    """Runtime and build requirements of an sdist, read from its own metadata (no build).

    Returns:
        ``(runtime, build)``: the unconditional lines of ``<pkg>.egg-info/requires.txt``
        and ``[build-system].requires`` of ``pyproject.toml``.
    """
    files = _simple_index(name)["files"]
    sdist = next(f for f in files if f["filename"] == f"{name}-{version}.tar.gz")
    with urllib.request.urlopen(sdist["url"], timeout=60) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != sdist["hashes"]["sha256"]:
        raise ValueError(f"{sdist['filename']}: sha256 differs from the index")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        base = f"{name}-{version}"
        requires = tar.extractfile(f"{base}/{name}.egg-info/requires.txt").read().decode()
        pyproject = tomllib.loads(tar.extractfile(f"{base}/pyproject.toml").read().decode())
    runtime = []
    for line in requires.splitlines():
        if line.startswith("["):  # extras / conditional sections follow
            break
        if line.strip():
            runtime.append(line.strip())
    return runtime, list(pyproject.get("build-system", {}).get("requires", []))


def _cache_dir() -> Path:
    return Path(os.environ.get("MCLD_CACHE") or Path.home() / ".cache" / "mcld") / "space_check"


def pip_resolve(requirements: list[str], python_version: str, interpreter: str) -> dict:
    """pip's dry-run install report for ``requirements`` on CPython ``python_version``, manylinux x86-64, wheels only.

    Returns:
        ``{"install": [{"metadata": {"name": ..., "version": ...}, "url": ...}, ...]}``: what pip
        would install (the report cut down to that, which is also what the cache keeps).

    Raises:
        RuntimeError: pip could not resolve (its stderr tail is in the message).
    """
    abi = "cp" + python_version.replace(".", "")
    options = ["--python-version", python_version, "--implementation", "cp", "--abi", abi, "--only-binary", ":all:"]
    for tag in MANYLINUX_X86_64:
        options += ["--platform", tag]
    pip_version = subprocess.run([interpreter, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()[1]
    key = hashlib.sha256(json.dumps([sorted(requirements), options, pip_version]).encode()).hexdigest()[:20]
    cached = _cache_dir() / f"{key}.json"
    if cached.is_file() and time.time() - cached.stat().st_mtime < RESOLVE_CACHE_MAX_AGE_S:
        return json.loads(cached.read_text())
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"mcld_space_check_{key}_{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "requirements.txt").write_text("\n".join(requirements) + "\n")
        cmd = [interpreter, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--target", str(work / "target")]
        cmd += ["--report", str(work / "report.json"), *options, "-r", str(work / "requirements.txt")]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if "is ignored" not in line]
            raise RuntimeError(f"pip could not resolve for CPython {python_version} manylinux x86-64:\n" + "\n".join(errors[-15:]))
        full = json.loads((work / "report.json").read_text())
        report = {"install": [{"metadata": {k: i["metadata"][k] for k in ("name", "version")}, "url": i["download_info"]["url"]} for i in full["install"]]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(report))
    return report


def find_python312() -> str | None:
    """A runnable CPython 3.12: ``$MCLD_PYTHON312``, pyenv's, or ``python3.12`` on PATH."""
    candidates = [os.environ.get("MCLD_PYTHON312")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    candidates.append(shutil.which("python3.12"))
    for exe in filter(None, candidates):
        try:
            out = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 12)":
            return exe
    return None


def compile_errors(python: str, files: list[Path]) -> list[str]:
    """Files that do not compile under ``python`` (syntax only; nothing is written)."""
    script = (
        "import sys\n"
        "for path in sys.stdin.read().split('\\n'):\n"
        "    if path:\n"
        "        try:\n"
        "            compile(open(path, encoding='utf-8').read(), path, 'exec', dont_inherit=True)\n"
        "        except SyntaxError as err:\n"
        "            print(f'{path}:{err.lineno}: {err.msg}')\n"
    )
    proc = subprocess.run([python, "-c", script], input="\n".join(map(str, files)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def project_sources(root: Path) -> list[Path]:
    """Tracked and untracked, not ignored ``*.py`` files of the project."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [root / p for p in out.stdout.splitlines() if (root / p).is_file()]


# Tests ------------------------------------------------------------------------------


def _copy_project(tmp_path: Path) -> Path:
    for name in ("README.md", "requirements.txt", "requirements-local.txt", "requirements-dev.txt", "packages.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_space_config_follows_the_documented_zerogpu_rules():
    assert check_space_config(ROOT) == []


def test_local_installs_keep_python_3_11_with_the_cpu_torch_and_the_spaces_pin():
    local = read_requirements(ROOT / "requirements-dev.txt", marker_env("3.11.7"))
    assert _pin(local, "torch") == "2.13.0"
    assert _pin(local, "spaces") is not None
    space = read_requirements(ROOT / "requirements.txt", marker_env(space_python(read_front_matter(ROOT / "README.md"))))
    assert _pin(space, "torch") == max(ZEROGPU_TORCH_VERSIONS, key=lambda v: tuple(map(int, v.split("."))))


@pytest.mark.parametrize(
    "file, old, new, rule, source",
    [
        ("README.md", 'python_version: "3.12"', 'python_version: "3.11"', "[python-version]", SRC_ZEROGPU),
        ("README.md", 'python_version: "3.12"', 'python_version: "3.12.1"', "[python-version]", SRC_ZEROGPU),
        ("requirements.txt", "gradio==6.31.0\n", "gradio==6.31.0\nspaces==0.51.3\n", "[no-spaces]", SRC_SKILL),
        ("requirements.txt", "gradio==6.31.0\n", "gradio==6.31.0\nspaces\n", "[no-spaces]", SRC_SKILL),
        ("requirements.txt", 'torch==2.11.0; python_version >= "3.12"', "torch==2.13.0", "[torch-version]", SRC_ZEROGPU),
        ("README.md", "sdk_version: 6.31.0", "sdk_version: 6.30.0", "[sdk-version]", SRC_CONFIG),
        ("packages.txt", "build-essential\n", "", "[packages]", SRC_DEPS),
        ("packages.txt", "libgl1\n", "", "[packages]", SRC_DEPS),
        ("packages.txt", "libgl1\n", "# OpenCV\nlibgl1\n", "[packages]", SRC_DEPS),
        ("README.md", "  - yisol/IDM-VTON humanparsing/parsing_atr.onnx\n", "", "[preload]", SRC_CONFIG),
        ("README.md", "startup_duration_timeout: 1h", "startup_duration_timeout: 10m", "[preload]", SRC_CONFIG),
        ("README.md", "license_name:", "license_x:", "[license]", SRC_LICENSES),
        ("README.md", "## Licences\n", "## Licenses of things\n", "[license]", SRC_LICENSES),
    ],
)
def test_each_rule_fails_on_a_broken_copy_and_names_its_source(tmp_path, file, old, new, rule, source):
    root = _copy_project(tmp_path)
    _edit(root / file, old, new)
    problems = check_space_config(root)
    assert [p for p in problems if p.startswith(rule) and source in p], problems


def test_the_python_3_11_front_matter_fails_citing_the_zerogpu_page(tmp_path):
    root = _copy_project(tmp_path)
    _edit(root / "README.md", 'python_version: "3.12"', 'python_version: "3.11"')
    (problem,) = check_space_config(root)
    assert "3.12.12" in problem and "3.10.13" in problem and "docs/hub/spaces-zerogpu.md" in problem


@needs_pypi
def test_insightface_is_sdist_only_and_its_metadata_is_readable():
    name, version = "insightface", _pin(read_requirements(ROOT / "requirements.txt", marker_env("3.12.12")), "insightface")
    files = [f["filename"] for f in _simple_index(name)["files"] if f"-{version}" in f["filename"]]
    assert files == [f"{name}-{version}.tar.gz"], f"{name} {version} now has other files {files}: drop it from SDIST_ONLY"
    runtime, build = sdist_requirements(name, version)
    assert {"numpy", "onnx", "scikit-image", "albumentations"} <= {canonicalize_name(Requirement(r).name) for r in runtime}
    assert {"setuptools", "numpy", "cython"} <= {canonicalize_name(Requirement(r).name) for r in build}


@needs_pypi
def test_a_requirement_that_needs_a_newer_python_does_not_resolve():
    # diffusers 0.42.1 requires Python >= 3.11, so ZeroGPU's other Python (3.10.13) cannot take it.
    with pytest.raises(RuntimeError, match=r"could not resolve for CPython 3\.10(.|\n)*Requires-Python >=3\.11"):
        pip_resolve(["diffusers==0.42.1"], "3.10", find_python312() or sys.executable)


@pytest.mark.slow
@needs_pypi
def test_the_space_requirements_resolve_for_cpython_3_12_manylinux_binary_wheels():
    python_full = space_python(read_front_matter(ROOT / "README.md"))
    reqs = read_requirements(ROOT / "requirements.txt", marker_env(python_full))
    wanted, extra, build = [], [], []
    for req in reqs:
        if canonicalize_name(req.name) in SDIST_ONLY:
            runtime, build_reqs = sdist_requirements(req.name, _pin([req], req.name))
            extra += runtime
            build += build_reqs
        else:
            wanted.append(str(Requirement(f"{req.name}{req.specifier}")))
    # `spaces` is the platform's own (unpinned here); it must co-resolve with our pins.
    interpreter = find_python312() or sys.executable
    report = pip_resolve(wanted + extra + ["spaces"], "3.12", interpreter)
    got = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
    for req in reqs:
        if canonicalize_name(req.name) not in SDIST_ONLY:
            assert got.get(canonicalize_name(req.name)) == _pin([req], req.name), req
    assert got["torch"] in ZEROGPU_TORCH_VERSIONS
    # The isolated build environment of each sdist must resolve too.
    pip_resolve(build, "3.12", interpreter)


def test_every_source_file_compiles_under_python_3_12(tmp_path):
    python = find_python312()
    if python is None:
        pytest.skip("no CPython 3.12 here ($MCLD_PYTHON312, ~/.pyenv/versions/3.12*, python3.12 on PATH)")
    files = project_sources(ROOT)
    assert len(files) > 50
    assert compile_errors(python, files) == []
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n")
    (error,) = compile_errors(python, [broken])
    assert error.startswith(f"{broken}:1:")
