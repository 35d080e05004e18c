"""Fixtures of the ``mcld.demo`` tests: one tiny-weights :class:`DemoServices`
(models built on first use, CPU) and a model-less person locator."""

from __future__ import annotations

import pytest

from mcld.demo import DemoOptions, DemoServices
from mcld.pose_transfer import PoseTransfer


@pytest.fixture(scope="session")
def options():
    return DemoOptions(tiny=True)


@pytest.fixture(scope="session")
def services(options):
    return DemoServices(options)


@pytest.fixture(scope="session")
def locator():
    """MediaPipe and the crop only (what a demo uses when no models loaded)."""
    return PoseTransfer(None, None)
