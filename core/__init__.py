"""wmproxy-compatible tunnel core: asyncio only, never imports Qt."""
__version__ = "0.1.0"
