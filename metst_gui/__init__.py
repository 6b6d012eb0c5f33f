"""metst desktop application (PySide6 + pyqtgraph): views over the engine and the project store."""
