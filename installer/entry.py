"""PyInstaller entry script: the frozen app starts exactly like `wmproxy-gui` / `wmproxy-gui-cli`.

wmproxy_gui.cli:main dispatches: headless modes (--headless-server, --headless-client,
--version, --check) never import Qt; anything else starts the GUI (wmproxy_gui.app).
"""
import multiprocessing
import sys

from wmproxy_gui.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless; keeps a future multiprocessing use from re-running main
    sys.exit(main())
