"""The built wheel works on its own: resources ship as package data, the CLI runs outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_extracts(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, timeout=300, cwd=tmp_path)
    (wheel,) = wheels.glob("metst-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # Dependencies come from this test environment (a .pth adds its site-packages, whose own .pth files,
    # such as an editable install of this checkout, are not processed); metst itself only from the wheel.
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # a checkout on the path would shadow the wheel
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300,
                   env=env, cwd=tmp_path)
    where = subprocess.check_output([str(py), "-c", "import metst_engine, metst_engine.resources_path as r; "
                                     "print(metst_engine.__file__); print(r.resource_path('rois', 'metst.json'))"],
                                    text=True, cwd=tmp_path, env=env).split()
    assert all(str(ROOT) not in w for w in where), where       # nothing read from the checkout
    metst = venv / "bin" / "metst"
    r = subprocess.run([str(metst), "--help"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0 and "extract" in r.stdout
    demo = Path(subprocess.check_output([str(py), "-c", "from metst_engine.resources_path import resource_path; "
                                         "print(resource_path('demo', 'demo_face.mp4'))"], text=True, cwd=tmp_path,
                                        env=env).strip())
    assert demo.is_file() and str(ROOT) not in str(demo)
    icons = subprocess.check_output([str(py), "-c", "from metst_engine.resources_path import resource_path as r; "
                                     "print(r('icons', 'metst.png')); print(r('icons', 'metst.svg'))"],
                                    text=True, cwd=tmp_path, env=env).split()
    assert all(Path(i).is_file() and str(ROOT) not in i for i in icons), icons   # the app icon ships too
    guide = Path(subprocess.check_output([str(py), "-c", "from metst_gui.shell.help import user_guide_path as g; "
                                          "print(g())"], text=True, cwd=tmp_path, env=env).strip())
    assert guide.is_file() and str(ROOT) not in str(guide)          # Help -> User guide works offline
    assert (guide.parent / "images" / "review-workspace.png").is_file()
    out = tmp_path / "demo.npz"
    r = subprocess.run([str(metst), "extract", str(demo), "--rois", "metst_plus", "-k", "30", "-o", str(out), "--no-cache"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["channels"] == 36
    with np.load(out, allow_pickle=False) as z:
        assert z["features"].shape == (15, 36, 30)
    # the synthetic-data generator reads its face photo from the installed package
    r = subprocess.run([str(metst), "synth", str(tmp_path / "synth"), "--subjects", "1", "--videos-per-subject", "1",
                        "--seconds", "3", "--seed", "1"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "synth" / "manifest.csv").is_file()
