"""Shared fixtures: every test runs in-process, against the emulator where Pinterest is needed."""
