"""metst desktop application (PySide6 + pyqtgraph): views over the engine and the project store."""

from metst_gui.qt_compat import protect_bools_from_emit_leak

protect_bools_from_emit_leak()   # before any widget emits a signal (see qt_compat)
