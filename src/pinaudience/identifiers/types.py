"""The kinds of identifier and the hash algorithms pinaudience knows, shared by every layer."""

from __future__ import annotations

import enum


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
