"""The pages hosted in the main window's tabs; each is ``XPage(controller, parent=None)``."""
