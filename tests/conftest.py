"""Shared fixtures. ``tests/`` is not a package (see pyproject.toml)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'data' / 'demo'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope='session')
def demo_root() -> Path:
    return DEMO


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    """A writable copy of the demo data (images/ + keypoints/)."""
    dst = tmp_path / 'demo'
    shutil.copytree(DEMO, dst)
    return dst


def run_tool(args, timeout=600, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    """Run a repo tool with this interpreter; fail with its output."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=cwd,
                          env=full_env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    return proc


@pytest.fixture
def tool():
    return run_tool


def _person_keypoints(rng: np.random.RandomState, batch: int,
                      hw=(256, 128)) -> tuple:
    """Plausible standing-person keypoints (B, 17, 2) and scores (B, 17)."""
    h, w = hw
    base = np.array([[0.5, 0.1], [0.55, 0.08], [0.45, 0.08], [0.6, 0.1],
                     [0.4, 0.1], [0.7, 0.22], [0.3, 0.22], [0.78, 0.38],
                     [0.22, 0.38], [0.8, 0.52], [0.2, 0.52], [0.62, 0.55],
                     [0.38, 0.55], [0.63, 0.75], [0.37, 0.75], [0.64, 0.95],
                     [0.36, 0.95]])
    jitter = rng.normal(0, 0.03, size=(batch, 17, 2))
    kpts = (base[None] + jitter) * np.array([w, h])
    scores = rng.uniform(0.5, 1.0, size=(batch, 17))
    return kpts, scores


@pytest.fixture
def person_keypoints():
    """``f(rng, batch, hw)`` -> standing-person keypoints and scores."""
    return _person_keypoints
