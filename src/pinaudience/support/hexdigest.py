"""The shape of a hex digest, defined once for every layer that recognises one.

The identifier rules take such a value as already hashed, record sets key it by its own prefix, the
state encodes it as bytes, and the file reader takes a header cell of that shape for data. Lowercase
only: values are lower-cased before they are compared with it.
"""

from __future__ import annotations

from typing import Final

HEX_DIGEST: Final[str] = r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}"
"""MD5, SHA-1 or SHA-256 as lowercase hex (32, 40 or 64 digits); an alternation to embed in a larger pattern."""

HEX_DIGEST_RE: Final[str] = rf"^(?:{HEX_DIGEST})$"
"""A whole value that is a hex digest (Python `re` and Polars `str.contains` both read it)."""
