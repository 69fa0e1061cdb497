"""Global ids: opaque strings that encode a kind, a provider and the provider's native id.

The encoding is base32hex (RFC 4648 section 7), lower-cased and unpadded. Unlike base64 it
preserves byte order, so sorting global ids sorts by (kind, provider, native id); the merged
session order breaks `createdAt` ties by global id and thereby agrees with upstreams that
break ties by native id.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Final

from app.core.echo import echo
from app.core.errors import BadUserInput
from app.core.records import Provider

SESSION: Final = "S"
USER: Final = "U"
AUTHORIZATION: Final = "A"  # native id `<kind>:<id>`: hyper.id numbers site and app ones apart
# A person spans providers: its id is `P:<person id>`, without a provider part.
PERSON: Final = "P"
DEVICE: Final = "D"  # named by its first session: `D:<provider>:<native session id>`
_KIND_NAMES: Final = {
    SESSION: "Session",
    USER: "SessionUser",
    AUTHORIZATION: "Authorization",
    PERSON: "Person",
    DEVICE: "Device",
}
_CACHED_IDS: Final = 1024  # a page of sessions and their users, many times over


def encode(kind: str, provider: Provider, native_id: str) -> str:
    """Build the global id of a `kind` object of `provider` with `native_id`."""
    return _encode(f"{kind}:{provider.value}:{native_id}")


# The same sessions and users come back request after request, and base64's encoder is a
# Python loop: most ids were made before.
@functools.lru_cache(maxsize=_CACHED_IDS)
def _encode(text: str) -> str:
    return base64.b32hexencode(text.encode()).decode("ascii").rstrip("=").lower()


def encode_person(person_id: str) -> str:
    """The global id of the person with `person_id` (app/people)."""
    return _encode(f"{PERSON}:{person_id}")


def person_id(global_id: str) -> str | None:
    """The person id in a Person's global id; None for any other string."""
    try:
        text = _text(global_id)
    except BadUserInput:
        return None
    kind, _, rest = text.partition(":")
    return rest if kind == PERSON and rest else None


def _text(global_id: str) -> str:
    text = global_id.strip()
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32hexdecode(padded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput(f"'{echo(global_id)}' is not a valid global id.") from None


def decode(global_id: str) -> tuple[str, Provider, str]:
    """Split a global id into (kind, provider, native id), or raise BadUserInput."""
    text = _text(global_id)
    if person_id(global_id) is not None:
        raise BadUserInput(
            f"'{echo(global_id)}' is the id of a Person, not of a session, user or authorization."
        )
    try:
        kind, provider_name, native_id = text.split(":", 2)
        provider = Provider(provider_name)
    except ValueError:
        raise BadUserInput(f"'{echo(global_id)}' is not a valid global id.") from None
    if kind not in _KIND_NAMES or kind == PERSON or not native_id:
        raise BadUserInput(f"'{echo(global_id)}' is not a valid global id.")
    return kind, provider, native_id


def decode_as(kind: str, global_id: str) -> tuple[Provider, str]:
    """Decode a global id that must be of `kind`; a wrong kind is a precise error."""
    found, provider, native_id = decode(global_id)
    if found != kind:
        raise BadUserInput(
            f"'{echo(global_id)}' is the id of a {_KIND_NAMES[found]}, "
            f"not of a {_KIND_NAMES[kind]}."
        )
    return provider, native_id
