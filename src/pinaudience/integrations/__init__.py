"""Adapters that run the engine inside other platforms: `meiro` (Meiro Integration loader component)."""
