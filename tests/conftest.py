"""Shared test fixtures: offline environment and paths to ../shared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCLD_SHARED", REPO_ROOT.parent / "shared")).resolve()
TEST_OUTPUT = REPO_ROOT / "test-output"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set MCLD_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def images_dir(shared_dir) -> Path:
    return shared_dir / "images"


@pytest.fixture(scope="session")
def mcld_golden_dir(shared_dir) -> Path:
    return shared_dir / "golden" / "mcld_tiny"


@pytest.fixture(scope="session")
def mcld_manifest(mcld_golden_dir) -> dict:
    return json.loads((mcld_golden_dir / "manifest.json").read_text())


@pytest.fixture(scope="session")
def densepose_golden_dir(shared_dir) -> Path:
    return shared_dir / "golden" / "densepose_tiny"


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="module")
def detector():
    """One MediaPipe pose detector (the bundled models) per test module, closed after it."""
    from mcld.annotators.mediapipe_pose import MediaPipePoseDetector

    det = MediaPipePoseDetector()
    yield det
    det.close()
