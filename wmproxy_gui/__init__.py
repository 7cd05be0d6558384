"""wmproxy-gui: the desktop tray app and the command line front door.

This package's ``__init__`` must stay free of Qt (and qasync, keyring):
``wmproxy_gui.cli`` imports it on the way to a headless server, which runs
where PySide6 is not installed. Qt is imported by ``wmproxy_gui.app`` only.
"""
from core import __version__

__all__ = ["__version__"]
