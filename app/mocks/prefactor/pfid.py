"""Prefactor ids (PFIDs): 160 bits in 32 lowercase Crockford base32 characters.

Layout, as in Prefactor's `pfid` library: 48-bit millisecond timestamp, 2 zero padding bits,
30-bit partition, 80 random bits, big-endian. The text form skips the padding (158 bits in 32
characters), so the first character is "0" to "7" and the docs' "013xrzp12g3nqk8n" prefix is
timestamp 1234567890000 with partition 123456789.
"""

from __future__ import annotations

import random

__all__ = ["ALPHABET", "is_pfid", "make_pfid", "pfid_partition", "pfid_timestamp_ms"]

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_LENGTH = 32
_RANDOM_BITS = 80
_PARTITION_BITS = 30
_TIMESTAMP_BITS = 48
_INDEX = {char: value for value, char in enumerate(ALPHABET)}


def make_pfid(timestamp_ms: int, partition: int, rng: random.Random) -> str:
    """Encode a PFID from a millisecond timestamp, a partition and 80 random bits."""
    if not 0 <= timestamp_ms < 1 << _TIMESTAMP_BITS:
        raise ValueError(f"timestamp {timestamp_ms} does not fit in {_TIMESTAMP_BITS} bits")
    if not 0 <= partition < 1 << _PARTITION_BITS:
        raise ValueError(f"partition {partition} does not fit in {_PARTITION_BITS} bits")
    value = (timestamp_ms << _PARTITION_BITS) | partition
    value = (value << _RANDOM_BITS) | rng.getrandbits(_RANDOM_BITS)
    chars = [ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_LENGTH))]
    return "".join(chars)


def _decode(pfid: str) -> int:
    if not is_pfid(pfid):
        raise ValueError(f"{pfid!r} is not a PFID")
    value = 0
    for char in pfid:
        value = (value << 5) | _INDEX[char]
    return value


def is_pfid(value: str) -> bool:
    """Whether `value` is 32 lowercase Crockford base32 characters starting with 0-7."""
    return len(value) == _LENGTH and value[0] in "01234567" and all(c in _INDEX for c in value)


def pfid_timestamp_ms(pfid: str) -> int:
    """The millisecond Unix timestamp a PFID was made at."""
    return _decode(pfid) >> (_PARTITION_BITS + _RANDOM_BITS)


def pfid_partition(pfid: str) -> int:
    """The 30-bit partition of a PFID."""
    return (_decode(pfid) >> _RANDOM_BITS) & ((1 << _PARTITION_BITS) - 1)
