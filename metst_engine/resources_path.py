"""Find the files in ``resources/`` whether metst runs from a wheel or from a checkout.

In a wheel ``resources/`` is the package ``metst_engine.resources`` (see pyproject's
package-dir); in a plain checkout without an install it is the folder next to the package.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path


def resource_path(*parts: str) -> Traversable:
    """The resource at ``resources/<parts...>`` (a Traversable; a Path in both usual installs)."""
    try:
        root: Traversable = importlib.resources.files("metst_engine.resources")
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parent.parent / "resources"
    for part in parts:
        root = root / part
    return root
