"""The Pinterest API v5 client: tokens, rate limits, retries and error classification."""
