"""The identifier rules, one golden table per rule: trimming, case, pre-hashed, email syntax, device ids, hashing."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from pinaudience.identifiers import TRIM_CHARS, evaluate
from pinaudience.identifiers.reference import prepare_value
from pinaudience.identifiers.rules import LOCAL_SPECIALS, effective_algorithm
from pinaudience.identifiers.types import HashAlgorithm, IdType

EMAIL, MAID, IDFA = IdType.EMAIL, IdType.MAID, IdType.IDFA
SHA256, SHA1, MD5, NONE = HashAlgorithm.SHA256, HashAlgorithm.SHA1, HashAlgorithm.MD5, HashAlgorithm.NONE
UUID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def valid(plain: str) -> tuple[str, str | None]:
    """Expected: valid, with this normalised value."""
    return ("valid", plain)


def invalid(reason: str) -> tuple[str, str | None]:
    return ("invalid", reason)


def prehashed(algorithm: str, value: str) -> tuple[str, str | None]:
    return (algorithm, value)


def check(id_type: IdType, algorithm: HashAlgorithm, value: str | None, expected: tuple[str, str | None]) -> None:
    """Run one value through the pipeline and the reference, and compare both with the expectation."""
    kind, detail = expected
    if kind == "valid":
        assert detail is not None
        used = effective_algorithm(id_type, algorithm)
        record = detail if used is NONE else hashlib.new(used.value, detail.encode()).hexdigest()
        want: tuple[str | None, str, str | None] = (record, "plain" if used is NONE else "hashed", None)
    elif kind == "invalid":
        want = (None, "invalid", detail)
    else:
        want = (detail, kind, None)
    got = evaluate(pl.Series([value], dtype=pl.String), id_type, algorithm).row(0)
    assert got == want
    assert tuple(prepare_value(value, id_type, algorithm)) == want


@pytest.mark.parametrize("char", list(TRIM_CHARS), ids=lambda c: f"U+{ord(c):04X}")
def test_every_trim_character_is_trimmed_at_both_ends(char: str) -> None:
    """Each whitespace or invisible character is removed at either end, and invalid inside a local part."""
    check(EMAIL, SHA256, f"{char}{char}john@example.com{char}", valid("john@example.com"))
    check(MAID, SHA256, f"{char}{UUID}{char}", valid(UUID))
    check(EMAIL, SHA256, f"jo{char}hn@example.com", invalid("bad_local"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("JOHN@EXAMPLE.COM", valid("john@example.com")),
        ("John.Doe@Example.Com", valid("john.doe@example.com")),
        ("ÉLODIE@EXEMPLE.FR", valid("élodie@exemple.fr")),
        ("STRASSE@ẞ.DE", valid("strasse@ß.de")),
        ("ΟΔΥΣΣΕΥΣ@ΠΑΡΑΔΕΙΓΜΑ.ΕΛ", valid("οδυσσευς@παραδειγμα.ελ")),
        ("\u212aelvin@example.com", valid("kelvin@example.com")),
    ],
)
def test_lower_casing_is_full_unicode(value: str, expected: tuple[str, str | None]) -> None:
    """Lower-casing covers every script, including the final sigma and the Kelvin sign."""
    check(EMAIL, SHA256, value, expected)


@pytest.mark.parametrize("id_type", list(IdType))
@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
@pytest.mark.parametrize(("length", "name"), [(32, "md5"), (40, "sha1"), (64, "sha256")])
def test_hex_of_digest_length_passes_through(id_type: IdType, algorithm: HashAlgorithm, length: int, name: str) -> None:
    """32, 40 and 64 hex digits, any case and padding, pass through lower-cased whatever the options."""
    digest = ("0123456789abcdefABCDEF" * 3)[:length]
    check(id_type, algorithm, f" \u00a0{digest}\t", prehashed(name, digest.lower()))


@pytest.mark.parametrize("length", [31, 33, 39, 41, 63, 65])
def test_hex_of_other_lengths_is_not_prehashed(length: int) -> None:
    """Hex of any other length is an ordinary value (so, for an email, one without an @)."""
    value = ("abcdef0123456789" * 5)[:length]
    check(EMAIL, SHA256, value, invalid("no_at"))
    check(MAID, SHA256, value, invalid("bad_uuid"))


def test_non_hex_of_digest_length_is_not_prehashed() -> None:
    """64 characters that are not all hex are not a hash."""
    check(EMAIL, SHA256, "g" * 64, invalid("no_at"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", invalid("empty")),
        (None, invalid("empty")),
        ("   ", invalid("empty")),
        ("john", invalid("no_at")),
        ("john@doe@example.com", invalid("multiple_at")),
        ("@@example.com", invalid("multiple_at")),
        ("@example.com", invalid("empty_local")),
        ("a" * 64 + "@example.com", valid("a" * 64 + "@example.com")),
        ("a" * 65 + "@example.com", invalid("too_long")),
        ("é" * 32 + "@example.com", valid("é" * 32 + "@example.com")),
        ("é" * 33 + "@example.com", invalid("too_long")),
        ("ab@" + ".".join(["b" * 61] * 4) + ".com", valid("ab@" + ".".join(["b" * 61] * 4) + ".com")),  # 254 bytes
        ("abc@" + ".".join(["b" * 61] * 4) + ".com", invalid("too_long")),
        ("a.b@example.com", valid("a.b@example.com")),
        (".a@example.com", valid(".a@example.com")),
        ("a.@example.com", valid("a.@example.com")),
        ("a..b@example.com", valid("a..b@example.com")),
        ("!#$%&'*+/=?^_`{|}~-@example.com", valid("!#$%&'*+/=?^_`{|}~-@example.com")),
        ("jo\x00hn@example.com", invalid("bad_local")),
        ("jo\x7fhn@example.com", invalid("bad_local")),
        ("jo\u200ehn@example.com", invalid("bad_local")),
        ("jo\nhn@example.com", invalid("bad_local")),
        ("ünïcödé@example.com", valid("ünïcödé@example.com")),
        ("john@example", invalid("bad_domain")),
        ("john@.example.com", invalid("bad_domain")),
        ("john@example.com.", invalid("bad_domain")),
        ("john@example..com", invalid("bad_domain")),
        ("john@ex ample.com", invalid("bad_domain")),
        ("john@example.com\u200b.au", invalid("bad_domain")),
        ("john@-example.com", invalid("bad_domain")),
        ("john@example-.com", invalid("bad_domain")),
        ("john@ex-ample.com", valid("john@ex-ample.com")),
        ("john@ex--ample.com", valid("john@ex--ample.com")),
        ("john@" + "b" * 63 + ".com", valid("john@" + "b" * 63 + ".com")),
        ("john@" + "b" * 64 + ".com", invalid("bad_domain")),
        ("john@example.c", invalid("bad_domain")),
        ("john@example.co", valid("john@example.co")),
        ("john@example.123", invalid("bad_domain")),
        ("john@example.1a", valid("john@example.1a")),
        ("john@example.a1", valid("john@example.a1")),
        ("john@10.0.0.1", invalid("bad_domain")),
        ("john@[10.0.0.1]", invalid("bad_domain")),
        ("john@exa_mple.com", invalid("bad_domain")),
        ("john@bücher.de", valid("john@bücher.de")),
        ("john@xn--bcher-kva.de", valid("john@xn--bcher-kva.de")),
        ("john@例子.广告", valid("john@例子.广告")),
    ],
)
def test_email_syntax(value: str | None, expected: tuple[str, str | None]) -> None:
    """The documented email syntax rule, at each of its boundaries."""
    check(EMAIL, SHA256, value, expected)


@pytest.mark.parametrize("special", list(LOCAL_SPECIALS))
def test_quoting_specials_are_refused_in_the_local_part(special: str) -> None:
    """Characters RFC 5322 allows only inside quotes make the local part invalid."""
    check(EMAIL, SHA256, f"jo{special}hn@example.com", invalid("bad_local"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UUID, valid(UUID)),
        (UUID.upper(), valid(UUID)),
        (f"  {UUID.upper()}\r\n", valid(UUID)),
        ("00000000-0000-0000-0000-000000000000", invalid("zero_id")),
        ("00000000-0000-0000-0000-000000000001", valid("00000000-0000-0000-0000-000000000001")),
        ("", invalid("empty")),
        (None, invalid("empty")),
        (f"{{{UUID}}}", invalid("bad_uuid")),
        (UUID[:-1], invalid("bad_uuid")),
        (UUID + "0", invalid("bad_uuid")),
        (UUID.replace("-", "_"), invalid("bad_uuid")),
        (UUID.replace("a", "g"), invalid("bad_uuid")),
        (UUID.replace("-", "", 1), invalid("bad_uuid")),
        (UUID.replace("-", ""), prehashed("md5", UUID.replace("-", ""))),
        ("john@example.com", invalid("bad_uuid")),
    ],
)
@pytest.mark.parametrize("id_type", [MAID, IDFA])
def test_device_ids(id_type: IdType, value: str | None, expected: tuple[str, str | None]) -> None:
    """MAIDs and IDFAs: the UUID form, lower-cased; the all-zero id refused."""
    check(id_type, SHA256, value, expected)


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_hash_options(algorithm: HashAlgorithm) -> None:
    """Emails follow --hash (plain for none); device ids are hashed even with none (SHA-256)."""
    check(EMAIL, algorithm, "John@Example.com", valid("john@example.com"))
    check(MAID, algorithm, UUID, valid(UUID))
    check(IDFA, algorithm, UUID, valid(UUID))


def test_device_ids_are_never_sent_plain() -> None:
    """`none` falls back to SHA-256 for device ids only."""
    assert effective_algorithm(MAID, NONE) is SHA256
    assert effective_algorithm(IDFA, NONE) is SHA256
    assert effective_algorithm(EMAIL, NONE) is NONE
    assert effective_algorithm(MAID, MD5) is MD5
    assert effective_algorithm(EMAIL, SHA1) is SHA1
