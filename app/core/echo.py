"""Client input quoted back in messages: a short prefix of each value, never all of it."""

from __future__ import annotations

import re

ECHO_LIMIT = 64

# A quoted value ('…' or "…", with backslash escapes) or a run of other non-space characters:
# how graphql-core and Strawberry put names and values into their messages.
_VALUE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+""")


def echo(value: str) -> str:
    """`value` for a message: its first ECHO_LIMIT characters, and '…' if there were more."""
    return value if len(value) <= ECHO_LIMIT else value[:ECHO_LIMIT] + "…"


def clip_echoes(message: str) -> str:
    """A message written elsewhere (graphql-core, Strawberry) with each long value `echo`ed."""
    if len(message) <= ECHO_LIMIT:
        return message
    return _VALUE.sub(_clip, message)


def _clip(match: re.Match[str]) -> str:
    text = match[0]
    if len(text) <= ECHO_LIMIT + 2:
        return text
    if text[0] in "'\"":
        return text[0] + echo(text[1:-1]) + text[0]
    return echo(text)
