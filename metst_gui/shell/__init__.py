"""The application shell: the ``metst-gui`` entry point, the main window and its menus, status bar, layout and keys."""
