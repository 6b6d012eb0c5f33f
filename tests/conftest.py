"""Shared fixtures: a real face photo (scikit-image's astronaut), the landmark model, artifact folder, two clips."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ARTIFACTS = Path(os.environ.get("METST_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "out" / "test-artifacts"))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave images for a human to look at (overlays, plots)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Videos "a" (60 frames) and "b" (50 frames) of ``project_support.two_clips``, once per test module."""
    from project_support import two_clips

    return two_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def astronaut_gray() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="session")
def landmark_model():
    from metst_engine.face import DlibLandmarkModel

    return DlibLandmarkModel()


@pytest.fixture(scope="session")
def astronaut_alignment(astronaut_gray, landmark_model):
    from metst_engine.face import FaceTracker

    al = FaceTracker(landmark_model).locate(astronaut_gray, 0)
    assert al is not None
    return al


@pytest.fixture(autouse=True, scope="session")
def _default_allocator():
    """Tests that call the CLI (or run training tasks) in this process must not fix glibc's malloc thresholds
    for the GUI tests that share it: the setting cannot be undone, and the GUI runs without it
    (metst_engine.malloc_tuning; tests/test_malloc_tuning.py checks it in child processes)."""
    with pytest.MonkeyPatch.context() as mp:
        for module in ("metst_engine.cli", "metst_engine.executors"):
            mp.setattr(f"{module}.keep_freed_memory", lambda: False)
        yield
