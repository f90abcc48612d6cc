"""docs/identifiers.md: every example in its table is what the pipeline and the reference do."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pinaudience.identifiers import RULES, Reason, evaluate
from pinaudience.identifiers.reference import prepare_value
from pinaudience.identifiers.types import HashAlgorithm, IdType

DOC = Path(__file__).resolve().parents[2] / "docs" / "identifiers.md"
_ROW = re.compile(r"^\| (email|maid|idfa) \| (sha256|sha1|md5|none) \| `(.*)` \| (.*) \|$")


@dataclass(frozen=True)
class Example:
    id_type: IdType
    algorithm: HashAlgorithm
    value: str
    record: str | None
    origin: str
    reason: str | None


def _expected(id_type: IdType, algorithm: HashAlgorithm, result: str) -> tuple[str | None, str, str | None]:
    if match := re.fullmatch(r"`(\w+)`", result):
        return None, "invalid", match.group(1)
    if match := re.match(r"hash of `(\".*\")`", result):
        plain = json.loads(match.group(1))
        name = "sha256" if algorithm is HashAlgorithm.NONE else algorithm.value
        return hashlib.new(name, plain.encode()).hexdigest(), "hashed", None
    if match := re.fullmatch(r"plain `(\".*\")`", result):
        return json.loads(match.group(1)), "plain", None
    if match := re.fullmatch(r"pre-hashed (md5|sha1|sha256) `(\".*\")`", result):
        return json.loads(match.group(2)), match.group(1), None
    raise AssertionError(f"unparsed result in docs: {result}")


def _examples() -> list[Example]:
    examples = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            id_type, algorithm = IdType(match.group(1)), HashAlgorithm(match.group(2))
            value = json.loads(match.group(3))
            examples.append(Example(id_type, algorithm, value, *_expected(id_type, algorithm, match.group(4))))
    return examples


EXAMPLES = _examples()


def test_docs_have_examples_of_every_reason_and_origin() -> None:
    """Each reason and each origin has at least one example on the page."""
    reasons = {example.reason for example in EXAMPLES if example.reason}
    assert reasons == {reason.value for rule in RULES.values() for reason in rule.reasons}
    origins = {example.origin for example in EXAMPLES}
    assert origins == {"hashed", "plain", "md5", "sha1", "sha256", "invalid"}


def test_docs_reason_table_lists_every_reason() -> None:
    """The reasons table documents every Reason the code can give."""
    text = DOC.read_text(encoding="utf-8")
    for reason in Reason:
        assert f"| `{reason.value}` |" in text


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"{example.id_type}-{example.value!r}")
def test_docs_example_holds_in_pipeline_and_reference(example: Example) -> None:
    """The pipeline and the scalar reference both give the documented result."""
    got = evaluate(pl.Series([example.value], dtype=pl.String), example.id_type, example.algorithm).row(0)
    expected = (example.record, example.origin, example.reason)
    assert got == expected
    assert tuple(prepare_value(example.value, example.id_type, example.algorithm)) == expected
