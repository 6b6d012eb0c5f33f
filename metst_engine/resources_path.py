"""Locate data files shipped in ``metst_engine.resources`` (the checkout's ``resources/``).

Installed, ``resources/`` is the package ``metst_engine.resources`` (pyproject package-dir)
and is read through importlib.resources, so zipped installs work. Run from a checkout
without installing, that package does not exist; then the ``resources/`` folder next to
the ``metst_engine`` package is used.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path


def resources_root() -> Traversable:
    """The resources package if importable, else the checkout's ``resources/`` folder."""
    try:
        return importlib.resources.files("metst_engine.resources")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Traversable:
    """A file or folder under the resources root, e.g. ``resource_path("emotions", "casme3.json")``."""
    node = resources_root()
    for part in parts:
        node = node.joinpath(part)
    return node
