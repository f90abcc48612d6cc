"""The test suite: a package, so that every test module has a unique name (and mypy can check them all)."""
