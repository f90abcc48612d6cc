"""Where pinaudience keeps its files by default: the user's state and config directories."""

from __future__ import annotations

from pathlib import Path


def default_state_dir() -> Path:
    """The embedded state store's directory when no `state_dir` is set."""
    import platformdirs

    return Path(platformdirs.user_state_dir("pinaudience"))


def default_token_store() -> Path:
    """The token file when no `token_store` is set."""
    import platformdirs

    return Path(platformdirs.user_config_dir("pinaudience")) / "tokens.json"
