"""``python -m wmproxy_gui``: the same front door as the ``wmproxy-gui`` script (start-on-login uses it)."""
import sys

from wmproxy_gui.cli import main

sys.exit(main())
