"""Secret redaction: every occurrence of every secret is covered, whatever the number of secrets."""

from __future__ import annotations

import random

import pytest

from taxcalc_consent.cli.fleet.engine_setup import Redactor


def covered(text: str, secrets: list[str]) -> str:
    """The reference: mark every character of every occurrence of a secret (>= 6 characters), then write
    each run of marked characters as one [secret]; overlapping occurrences are one run, adjacent ones two."""
    spans: list[tuple[int, int]] = []
    for secret in {s for s in secrets if len(s) >= 6}:
        position = text.find(secret)
        while position >= 0:
            spans.append((position, position + len(secret)))
            position = text.find(secret, position + 1)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, done = [], 0
    for start, end in merged:
        out += [text[done:start], "[secret]"]
        done = end
    return "".join(out) + text[done:]


def test_the_longest_secret_at_a_position_wins() -> None:
    redact = Redactor(["hunter2-pass", "hunter2-passphrase"])
    assert redact("key hunter2-passphrase!") == "key [secret]!"


def test_overlapping_occurrences_are_one_secret_and_adjacent_ones_two() -> None:
    redact = Redactor(["xxabcd", "abcdefgh"])
    # Neither "xx" nor "efgh" is left to give away part of a secret.
    assert redact("<xxabcdefgh>") == "<[secret]>"
    assert redact("xxabcdabcdefgh") == "[secret][secret]"


def test_values_shorter_than_six_characters_are_left_alone() -> None:
    redact = Redactor(["abc12", "", "abc123"])
    assert redact("abc12 abc123") == "abc12 [secret]"
    assert Redactor([])("anything at all") == "anything at all"


@pytest.mark.parametrize("count", [1, 5, 128, 129, 300])
def test_matches_the_reference_with_few_and_with_many_secrets(count: int) -> None:
    # Up to 128 distinct prefixes are found with str.find, more by one pass over the text: both must agree
    # with the reference, on texts made of secrets' pieces so that near misses and overlaps are common.
    rng = random.Random(count)
    alphabet = "ab~Q"
    secrets = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 12))) for _ in range(count)]
    redact = Redactor(secrets)
    for _ in range(300):
        pieces = [rng.choice(secrets)[: rng.randint(1, 12)] if rng.random() < 0.7 else " " for _ in range(8)]
        text = "".join(pieces)
        assert redact(text) == covered(text, secrets), (text, secrets)
