"""The keyboard table of the user guide, as Markdown, generated from the shortcut defaults.

``docs/make_screenshots.py`` writes it into ``docs/user-guide.md`` between the markers
below, and ``tests/test_docs.py`` fails when the guide's copy differs from the defaults.
"""

from __future__ import annotations

import re

from metst_gui.shell.shortcuts import PLAYER_KEYS, REVIEW_SHORTCUTS

START, END = "<!-- keyboard-table:start (generated from metst_gui/shell/shortcuts.py) -->", "<!-- keyboard-table:end -->"
_BLOCK = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), flags=re.DOTALL)


def keyboard_markdown() -> str:
    """Review keys (rebindable, defaults shown) then the player's fixed keys."""
    rows = ["| Key | Action | Rebindable |", "|---|---|---|"]
    rows += [f"| `{s.default}` | {s.label} | yes |" for s in REVIEW_SHORTCUTS]
    rows += [f"| `{key}` | {label} | no (player) |" for key, label in PLAYER_KEYS]
    return "\n".join(rows)


def table_in(text: str) -> str | None:
    """The generated block of a document, or None when it has no markers."""
    match = _BLOCK.search(text)
    return match.group(1).strip("\n") if match else None


def with_table(text: str) -> str:
    """``text`` with its generated block replaced by the current table."""
    if table_in(text) is None:
        raise ValueError("no keyboard-table markers in the document")
    return _BLOCK.sub(lambda _m: f"{START}\n{keyboard_markdown()}\n{END}", text)
