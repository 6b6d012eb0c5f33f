"""Entry point of the PyInstaller folder: one program, two executables (``metst-gui`` and ``metst``).

Both executables are built from this script; the name it was started under picks the
command, so the CLI and the GUI share one copy of torch, Qt and the models.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    name = Path(sys.executable).name.lower()
    if name.startswith(("metst-gui", "metst_gui")):
        from metst_gui.shell.app import main as gui_main

        return gui_main()
    from metst_engine.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()    # extraction's process pool re-enters this executable
    sys.exit(main())
