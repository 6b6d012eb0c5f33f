"""The documentation matches the app: the user guide's keyboard table is the shortcut defaults, every image
the README and the guide show exists (and is small enough to commit), the packaging files are well formed,
and ``metst-gui --smoke-test`` really checks a window."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "user-guide.md", ROOT / "docs" / "architecture.md"]
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]+src=\"([^\"]+)\"")
MAX_IMAGE_BYTES = 300_000


def images_in(document: Path) -> list[Path]:
    text = document.read_text(encoding="utf-8")
    links = [a or b for a, b in IMAGE_LINK.findall(text)]
    return [(document.parent / link).resolve() for link in links if "://" not in link]


def test_user_guide_keyboard_table_is_the_shortcut_defaults():
    from metst_gui.shell.keyboard_table import keyboard_markdown, table_in
    from metst_gui.shell.shortcuts import PLAYER_KEYS, REVIEW_SHORTCUTS

    guide = table_in((ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8"))
    assert guide is not None, "the keyboard-table markers are missing from docs/user-guide.md"
    assert guide == keyboard_markdown(), "run docs/make_screenshots.py (or metst_gui.shell.keyboard_table.with_table)"
    for spec in REVIEW_SHORTCUTS:
        assert f"| `{spec.default}` | {spec.label} |" in guide
    assert len(guide.splitlines()) == 2 + len(REVIEW_SHORTCUTS) + len(PLAYER_KEYS)


def test_a_changed_default_makes_the_table_differ(monkeypatch):
    from metst_gui.shell import keyboard_table
    from metst_gui.shell.shortcuts import REVIEW_SHORTCUTS, ShortcutSpec

    before = keyboard_table.keyboard_markdown()
    changed = (ShortcutSpec("accept", REVIEW_SHORTCUTS[0].label, "Y"), *REVIEW_SHORTCUTS[1:])
    monkeypatch.setattr(keyboard_table, "REVIEW_SHORTCUTS", changed)
    assert keyboard_table.keyboard_markdown() != before


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_referenced_image_exists_and_is_small(document):
    images = images_in(document)
    assert images, f"{document.name} shows no screenshot"
    for image in images:
        assert image.is_file(), f"{document.name} refers to a missing image {image}"
        assert image.stat().st_size <= MAX_IMAGE_BYTES, f"{image.name}: {image.stat().st_size} bytes"


def test_readme_shows_the_review_workspace_and_the_training_panel():
    names = {p.name for p in images_in(ROOT / "README.md")}
    assert {"review-workspace.png", "training-panel.png"} <= names


def test_desktop_file_is_valid():
    path = ROOT / "packaging" / "metst.desktop"
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
        assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str                     # keys are case-sensitive
    entry.read(path, encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] and d["Icon"] == "metst"
    assert d["Exec"].split()[0] == "metst-gui"
    assert {"Science", "Education"} <= set(filter(None, d["Categories"].split(";")))
    assert (ROOT / "resources" / "icons" / "metst.png").is_file() and (ROOT / "resources" / "icons" / "metst.svg").is_file()


def test_pyinstaller_spec_parses_and_names_existing_files():
    spec = (ROOT / "packaging" / "metst.spec").read_text(encoding="utf-8")
    tree = ast.parse(spec)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"metst-gui", "metst", "launcher.py", "metst.desktop", "resources"} <= strings
    for name in ("launcher.py", "metst.desktop", "build.sh", "smoke_test.sh", "install-desktop.sh"):
        assert (ROOT / "packaging" / name).is_file()
    assert {"mamba_ssm", "ray", "tests"} <= strings            # excluded from the bundle


def test_app_icon_loads(qapp):
    from metst_gui.shell.app_icon import app_icon

    icon = app_icon()
    assert not icon.isNull() and icon.pixmap(64, 64).width() == 64


def test_distinct_colours_tells_a_blank_window_from_a_picture(qapp):
    from PySide6 import QtGui

    from metst_gui.shell.smoke_test import distinct_colours

    blank = QtGui.QImage(200, 100, QtGui.QImage.Format.Format_RGB32)
    blank.fill(QtGui.QColor("white"))
    assert distinct_colours(blank) == 1
    picture = QtGui.QImage(str(ROOT / "resources" / "icons" / "metst.png"))
    assert distinct_colours(picture) >= 16


@pytest.fixture
def private_settings(tmp_path, monkeypatch):
    """The window's QSettings in tmp_path, not the user's."""
    from PySide6 import QtCore

    monkeypatch.setattr("metst_gui.shell.main_window.default_settings",
                        lambda: QtCore.QSettings(str(tmp_path / "app.ini"), QtCore.QSettings.Format.IniFormat))


def test_smoke_test_opens_a_project_shows_a_frame_and_saves_a_screenshot(qapp, tmp_path, private_settings):
    from PySide6 import QtGui

    from metst_engine.project import Project
    from metst_gui.shell.app import main

    folder = tmp_path / "project"
    with Project.create(folder, annotator="tester") as project:
        project.add_video(ROOT / "resources" / "demo" / "demo_face.mp4", "s01", "demo")
    shot = tmp_path / "smoke.png"
    assert main([str(folder), "--smoke-test", str(shot), "--no-proxy"]) == 0
    image = QtGui.QImage(str(shot))
    assert not image.isNull() and image.width() > 400


def test_smoke_test_fails_on_a_blank_screenshot(qapp, tmp_path, monkeypatch, private_settings):
    from metst_engine.project import Project
    from metst_gui.shell import smoke_test
    from metst_gui.shell.app import main

    folder = tmp_path / "project"
    with Project.create(folder, annotator="tester") as project:
        project.add_video(ROOT / "resources" / "demo" / "demo_face.mp4", "s01", "demo")
    monkeypatch.setattr(smoke_test, "SMOKE_TIMEOUT_MS", 1500)
    monkeypatch.setattr(smoke_test, "distinct_colours", lambda image, samples=64: 1)   # as if the window were blank
    shot = tmp_path / "smoke.png"
    assert main([str(folder), "--smoke-test", str(shot), "--no-proxy"]) == 1
    assert not shot.exists()


def test_the_training_panel_runs_the_cli_of_the_packaged_folder_when_frozen(monkeypatch, tmp_path):
    """In dist/metst/, sys.executable is metst-gui: `-m metst_engine.cli` would reach the GUI's argparse."""
    import sys

    from metst_engine.runs import metst_command

    assert metst_command() == [sys.executable, "-m", "metst_engine.cli"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "metst" / "metst-gui"))
    assert metst_command() == [str(tmp_path / "metst" / "metst")]


def test_models_doc_defaults_table_is_the_code():
    """docs/models.md "Defaults: the authors' public code": each row's value is what the code uses."""
    from metst_engine.features import ExtractParams
    from metst_engine.inference import InferenceOptions
    from metst_engine.training import MODEL_DEFAULTS, TrainConfig

    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    section = text.split("## Defaults: the authors' public code", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z_]+)\.([a-z_]+)` \| `([^`]+)` \|", section, re.M)
    owners = {"ExtractParams": ExtractParams(), "TrainConfig": TrainConfig(dataset="x"),
              "InferenceOptions": InferenceOptions(), "MODEL_DEFAULTS": MODEL_DEFAULTS}
    assert len(rows) >= 12
    for owner, name, written in rows:
        obj = owners[owner]
        value = obj[name] if isinstance(obj, dict) else getattr(obj, name)
        assert str(value) == written, f"{owner}.{name}: docs say {written}, the code has {value}"
