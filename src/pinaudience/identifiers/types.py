"""The kinds of identifier, the hash algorithms and the characters trimmed from values: shared by every layer."""

from __future__ import annotations

import enum
from typing import Final


class IdType(enum.StrEnum):
    """What the input column holds; decides the rules and the Pinterest `list_type`."""

    EMAIL = "email"
    MAID = "maid"
    IDFA = "idfa"

    @property
    def list_type(self) -> str:
        """The Pinterest customer list `list_type` for records of this kind."""
        return {"email": "EMAIL", "maid": "MAID", "idfa": "IDFA"}[self.value]


class HashAlgorithm(enum.StrEnum):
    """How plain values are hashed before they leave the machine; `none` sends emails as plain text."""

    SHA256 = "sha256"
    SHA1 = "sha1"
    MD5 = "md5"
    NONE = "none"

    @property
    def hex_length(self) -> int | None:
        """Length of this algorithm's lowercase hex digest (None for `none`)."""
        return {"sha256": 64, "sha1": 40, "md5": 32, "none": None}[self.value]


TRIM_CHARS: Final[str] = (
    # Unicode White_Space, plus the C0 information separators that Python's str.isspace() also counts.
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
    # Invisible characters that copy-and-paste leaves around values: zero-width space, non-joiner and
    # joiner, word joiner, the byte order mark (zero-width no-break space), and the Mongolian vowel
    # separator (a space before Unicode 6.3).
    "\u200b\u200c\u200d\u2060\ufeff\u180e"
)
"""Characters removed from both ends of every value before anything else."""
