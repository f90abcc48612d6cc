"""Customer identifiers: the kinds pinaudience knows and the rules that turn raw values into Pinterest records.

- `types`: `IdType` and `HashAlgorithm`, shared by every layer.
- `rules`: the rules table (normalise, validate with a reason, recognise pre-hashed, hash) as Polars expressions.
- `pipeline`: the rules applied to many values at once, in two passes.
- `reference`: the same rules one value at a time in plain Python, the specification tests compare against.

Pure: nothing here reads files, prints or logs.
"""

from pinaudience.identifiers.pipeline import evaluate
from pinaudience.identifiers.rules import RULES, TRIM_CHARS, IdRule, Origin, Reason
from pinaudience.identifiers.types import HashAlgorithm, IdType

__all__ = ["RULES", "TRIM_CHARS", "HashAlgorithm", "IdRule", "IdType", "Origin", "Reason", "evaluate"]
