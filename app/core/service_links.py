"""Kubernetes service-link variables: what a Service named `gateway…` injects into every pod.

For each Service in its namespace, Kubernetes sets `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
`<NAME>_SERVICE_PORT_<PORT NAME>`, `<NAME>_PORT` and, per port, `<NAME>_PORT_<n>_<PROTO>` with
its `_PROTO`, `_PORT` and `_ADDR` (docker links had the same shape). A Service named `gateway`
or `gateway-privx` so lands in the gateway's own GATEWAY_* namespace. They are recognised by
name and value together, so a misspelt setting (`GATEWAY_PRIVX_ULR`, `GATEWAY_PRIVX_PORT=8080`)
is still refused.
"""

from __future__ import annotations

import ipaddress
import re

# The Service's name, upper-cased with `-` as `_`: GATEWAY or GATEWAY_<more>.
_SERVICE = r"GATEWAY(?:_[A-Z0-9_]*[A-Z0-9])?"
_HOST = re.compile(rf"^{_SERVICE}_SERVICE_HOST$")
_SERVICE_PORT = re.compile(rf"^{_SERVICE}_SERVICE_PORT(?:_[A-Z0-9_]+)?$")
_FIRST_PORT = re.compile(rf"^{_SERVICE}_PORT$")
_PORT = re.compile(
    rf"^{_SERVICE}_PORT_(?P<port>\d{{1,5}})_(?P<proto>TCP|UDP|SCTP)(?P<part>_PROTO|_PORT|_ADDR)?$"
)
# tcp://10.0.0.11:8000 or tcp://[fd00::1]:8000
_URL = re.compile(
    r"^(?P<proto>tcp|udp|sctp)://(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d{1,5})$"
)


def is_service_link(name: str, value: str) -> bool:
    """Whether `name=value` is a variable Kubernetes injects for a Service (see the module)."""
    # A name may fit several shapes (a Service may be called `gateway-port-80-tcp`): any will do.
    if _HOST.match(name) and _is_address(value):
        return True
    if _SERVICE_PORT.match(name) and _is_port(value):
        return True
    if _FIRST_PORT.match(name) and _url(value) is not None:
        return True
    found = _PORT.match(name)
    if found is None:
        return False
    port, proto, part = int(found["port"]), found["proto"].lower(), found["part"]
    if part == "_PROTO":
        return value == proto
    if part == "_PORT":
        return _is_port(value) and int(value) == port
    if part == "_ADDR":
        return _is_address(value)
    return _url(value) == (proto, port)


def _url(value: str) -> tuple[str, int] | None:
    """(protocol, port) of `proto://address:port`, else None."""
    found = _URL.match(value)
    if found is None or not _is_address(found["v6"] or found["v4"]) or not _is_port(found["port"]):
        return None
    return found["proto"], int(found["port"])


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_port(value: str) -> bool:
    return value.isdecimal() and len(value) <= 5 and 0 < int(value) < 65536
