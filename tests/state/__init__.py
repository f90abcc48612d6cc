"""Tests of the embedded state store."""
