"""Where pinaudience keeps its files by default (the user's state and config directories), and which
state locations are a PostgreSQL database rather than a directory."""

from __future__ import annotations

from pathlib import Path

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

ENV_STATE = "PINAUDIENCE_STATE"
"""The environment variable that names the state (a directory or a PostgreSQL URL) when neither a flag nor
the config file does."""


def is_postgres_url(location: object) -> bool:
    """True for a `postgresql://` or `postgres://` URL (the PostgreSQL state backend), False for a directory."""
    return isinstance(location, str) and location.strip().lower().startswith(POSTGRES_SCHEMES)


def default_state_dir() -> Path:
    """The embedded state store's directory when no `state_dir` is set."""
    import platformdirs

    return Path(platformdirs.user_state_dir("pinaudience"))


def default_token_store() -> Path:
    """The token file when no `token_store` is set."""
    import platformdirs

    return Path(platformdirs.user_config_dir("pinaudience")) / "tokens.json"
