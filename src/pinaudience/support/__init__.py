"""Leaf helpers every layer may use: secrets, default paths, redaction, durable file writes.

Nothing here imports another pinaudience module.
"""
