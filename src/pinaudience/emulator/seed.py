"""The default seed, restored by `POST /_emulator/reset`: one app, one user owning one ad account, one token pair, one
conversion access token."""

from __future__ import annotations

from pinaudience.pinterest import limits

SEED_APP_ID = "1000001"
SEED_APP_SECRET = "emulator-secret"
SEED_USER = "emulator-user"
SEED_AD_ACCOUNT_ID = "549755885175"
SEED_AD_ACCOUNT_NAME = "Emulator ad account"
SEED_ACCESS_TOKEN = "pina_emulator_access"
SEED_REFRESH_TOKEN = "pinr_emulator_refresh"
SEED_CONVERSION_TOKEN = "pina_emulator_conversion"
"""A conversion access token of the seed user (Ads Manager's kind): good for `events/create` only."""
SEED_SCOPES: tuple[str, ...] = limits.REQUIRED_SCOPES
