"""Customer identifiers: the kinds pinaudience knows and the rules that turn raw values into Pinterest records.

- `types`: `IdType`, `HashAlgorithm` and `TRIM_CHARS`, shared by every layer (no Polars: the configuration, the CLI
  and the CSV sniffer use them).
- `rules`: the rules table (normalise, validate with a reason, recognise pre-hashed, hash) as Polars expressions.
- `pipeline`: the rules applied to many values at once, in two passes.
- `reference`: the same rules one value at a time in plain Python, the specification tests compare against.

The names below load lazily, on first use (a module `__getattr__`), for start-up cost only: importing
`pinaudience.identifiers.types` runs this file first, and must not load Polars for every command. The
`TYPE_CHECKING` block gives type checkers the same names.

Pure: nothing here reads files, prints or logs.
"""

import importlib
from typing import TYPE_CHECKING, Any

from pinaudience.identifiers.types import TRIM_CHARS, HashAlgorithm, IdType

if TYPE_CHECKING:
    from pinaudience.identifiers.pipeline import evaluate
    from pinaudience.identifiers.rules import RULES, IdRule, Origin, Reason

__all__ = ["RULES", "TRIM_CHARS", "HashAlgorithm", "IdRule", "IdType", "Origin", "Reason", "evaluate"]

_MODULE_OF = {
    "evaluate": "pinaudience.identifiers.pipeline",
    **dict.fromkeys(("RULES", "IdRule", "Origin", "Reason"), "pinaudience.identifiers.rules"),
}


def __getattr__(name: str) -> Any:
    """A name of `rules` or `pipeline`, imported (with Polars) on first use."""
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pinaudience.identifiers' has no attribute {name!r}")
