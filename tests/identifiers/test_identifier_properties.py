"""Properties of the identifier rules, on generated values including odd Unicode and whitespace."""

from __future__ import annotations

import re
import string

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from pinaudience.identifiers import TRIM_CHARS, evaluate
from pinaudience.identifiers.reference import normalise as reference_normalise
from pinaudience.identifiers.reference import prepare_value
from pinaudience.identifiers.rules import normalise
from pinaudience.identifiers.types import HashAlgorithm, IdType

# Characters Python's Unicode database knows (no surrogates, nothing unassigned): Polars' Rust tables may
# be a newer Unicode version, and characters assigned since are not what these tests are about.
any_char = st.characters(exclude_categories=("Cs", "Cn"))
padding = st.text(alphabet=st.sampled_from(TRIM_CHARS), max_size=3)
odd_text = st.text(alphabet=any_char, max_size=30)
local_char = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-\"(),:;<>[]\\ "), any_char
)
label_char = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + "-"),
    st.characters(categories=("L", "M", "N")),
    any_char,
)
label = st.text(alphabet=label_char, max_size=66)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)


@st.composite
def case_mixed(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    value = draw(text)
    return "".join(char.upper() if draw(st.booleans()) else char for char in value)


email_like = st.builds(
    lambda pad1, local, at, dom, pad2: f"{pad1}{local}{at}{dom}{pad2}",
    padding,
    case_mixed(st.text(alphabet=local_char, max_size=70)),
    st.sampled_from(["@", "@", "@", "", "@@"]),
    case_mixed(domain),
    padding,
)
# Mostly valid addresses, ASCII and not, so that both passes of the pipeline see valid values.
plausible_local = st.text(
    alphabet=st.one_of(
        st.sampled_from(string.ascii_lowercase + string.digits + ".+_-'"), st.characters(categories=["L"])
    ),
    min_size=1,
    max_size=20,
)
plausible_label = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.text(
        alphabet=st.one_of(
            st.sampled_from(string.ascii_lowercase + string.digits), st.characters(categories=("L", "N"))
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["", "-", "--", "x-"]),
    st.text(alphabet=st.sampled_from(string.ascii_lowercase + string.digits), min_size=1, max_size=4),
)
plausible_email = st.builds(
    lambda pad1, local, labels, tld, pad2: f"{pad1}{local}@{'.'.join(labels)}.{tld}{pad2}",
    padding,
    case_mixed(plausible_local),
    st.lists(case_mixed(plausible_label), min_size=1, max_size=3),
    st.sampled_from(["com", "cz", "CO.UK", "xn--p1ai", "广告", "ελ", "io", "1a", "c0m"]),
    padding,
)
hex_digest = st.builds(
    lambda length, data: data.hex()[:length],
    st.sampled_from([31, 32, 33, 40, 64, 65]),
    st.binary(min_size=33, max_size=33),
)
padded_hex = st.builds(lambda pad1, value, pad2: pad1 + value + pad2, padding, case_mixed(hex_digest), padding)
uuid_like = st.builds(
    lambda pad1, value, pad2: pad1 + value + pad2,
    padding,
    case_mixed(st.one_of(st.uuids().map(str), st.just("00000000-0000-0000-0000-000000000000"))),
    padding,
)
values = st.one_of(st.none(), odd_text, email_like, plausible_email, padded_hex, uuid_like)
id_types = st.sampled_from(list(IdType))
algorithms = st.sampled_from(list(HashAlgorithm))
HEX64 = re.compile(r"[0-9a-f]{64}")


def normalise_series(items: list[str | None]) -> list[str | None]:
    return pl.DataFrame({"v": items}, schema={"v": pl.String}).select(normalise(pl.col("v"))).to_series().to_list()


@given(st.lists(st.one_of(odd_text, email_like, plausible_email, padded_hex, uuid_like), max_size=30))
def test_normalisation_is_idempotent(items: list[str]) -> None:
    """Normalising twice gives what normalising once gives, in the pipeline and the reference alike."""
    once = normalise_series(list(items))
    assert normalise_series(once) == once
    assert once == [reference_normalise(item) for item in items]
    assert [reference_normalise(item) for item in once] == once


@given(st.lists(values, max_size=30), id_types, algorithms)
def test_pipeline_equals_scalar_reference(items: list[str | None], id_type: IdType, algorithm: HashAlgorithm) -> None:
    """The vectorised pipeline and the per-value hashlib reference agree on record, origin and reason."""
    got = evaluate(pl.Series(items, dtype=pl.String), id_type, algorithm).rows()
    assert got == [tuple(prepare_value(item, id_type, algorithm)) for item in items]


@given(st.lists(st.one_of(plausible_email, email_like, odd_text), max_size=30))
def test_hashed_emails_are_64_lowercase_hex(items: list[str]) -> None:
    """With the default SHA-256, every email record is 64 lowercase hex digits."""
    frame = evaluate(pl.Series(items, dtype=pl.String), IdType.EMAIL, HashAlgorithm.SHA256)
    records = frame.filter(pl.col("record").is_not_null()).get_column("record").to_list()
    assert all(HEX64.fullmatch(record) for record in records)


@given(st.lists(st.tuples(padding, hex_digest, padding), max_size=20), id_types, algorithms)
def test_prehashed_values_pass_through_unchanged(
    items: list[tuple[str, str, str]], id_type: IdType, algorithm: HashAlgorithm
) -> None:
    """A 32/40/64-hex value comes out as itself, trimmed and lower-cased, whatever the options."""
    raw = [pad1 + digest.upper() + pad2 for pad1, digest, pad2 in items]
    frame = evaluate(pl.Series(raw, dtype=pl.String), id_type, algorithm)
    for (_, digest, _), (record, origin, _) in zip(items, frame.rows(), strict=True):
        if len(digest) in (32, 40, 64):
            assert record == digest
            assert origin == {32: "md5", 40: "sha1", 64: "sha256"}[len(digest)]
        else:
            assert record != digest


@given(st.lists(st.one_of(plausible_email, email_like, odd_text), max_size=30))
def test_plain_records_are_fixed_points(items: list[str]) -> None:
    """Preparing the plain records of a run again (hash none) gives the same records."""
    first = evaluate(pl.Series(items, dtype=pl.String), IdType.EMAIL, HashAlgorithm.NONE)
    records = first.filter(pl.col("record").is_not_null()).get_column("record")
    again = evaluate(records, IdType.EMAIL, HashAlgorithm.NONE)
    assert again.get_column("record").to_list() == records.to_list()
