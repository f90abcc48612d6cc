"""The Pinterest API v5 client: tokens, rate limits, retries and error classification.

Modules: `limits` (Pinterest's facts: the numbers and names both the client and the emulator honour; a
leaf that imports nothing), `settings` (connection settings and Pinterest SDK environment names),
`errors` (`classify`, `transport_failure`), `ratelimit`, `retry`, the tokens (`tokens`: the model;
`token_store`: the 0600 file and which pair to start from; `oauth`: the token endpoint and authorize
URL; `providers`: static or refreshing bearer tokens), `client` (`PinterestClient`, `open_client`),
`access` (`check`). This package's `__init__` imports nothing, so that the emulator and
the state store can read `limits` without loading the HTTP client.
"""
