"""The Pinterest API v5 client: tokens, rate limits, retries and error classification.

Modules: `limits` (Pinterest's facts: the numbers and names both the client and the emulator honour; a
leaf that imports nothing), `settings` (connection settings and Pinterest SDK environment names),
`errors` (`classify`), `ratelimit`, `retry`, the token modules, `client` (`PinterestClient`,
`open_client`), `access` (`check`). This package's `__init__` imports nothing, so that the emulator and
the state store can read `limits` without loading the HTTP client.
"""
