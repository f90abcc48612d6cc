"""Leaf helpers every layer may use: secrets, default paths, the hex-digest pattern, redaction, durable
file writes.

Nothing here imports another pinaudience module.
"""
