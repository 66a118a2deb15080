"""Which remote forcing servers may be contacted: FORCING_REMOTE_HOSTS, schemes, and public addresses only.

Checked twice: by the operator CLI and the job before a fetch starts (nothing refused is ever
contacted), and inside the fetch process on every name lookup (`guard_sockets`), so a redirect or a
library that connects on its own cannot reach a host the allow-list does not name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from driftline.errors import ForcingError

SCHEMES = ("http", "https")


class HostRefused(ForcingError):
    """A remote forcing URL or host is not allowed; raised before any connection."""


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; HostRefused for other schemes or embedded credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise HostRefused(f"remote forcing URL is malformed: {e}") from e
    if parts.scheme not in SCHEMES:
        raise HostRefused(f"remote forcing URL scheme {parts.scheme or '(none)'!r} is not allowed: only http(s)")
    if parts.username is not None or parts.password is not None:
        raise HostRefused("remote forcing URLs must not hold credentials (use ~/.netrc or the environment)")
    if not parts.hostname:
        raise HostRefused("remote forcing URL has no host")
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _entry(entry: str) -> tuple[str, int | None]:
    """(host, port or None) of an allow-list entry: host, host:port, [v6]:port, bare v6, .domain."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest.lstrip(":")
    elif entry.count(":") == 1:
        name, _, port = entry.partition(":")
    else:
        name, port = entry, ""
    return name, int(port) if port.isdigit() else None


def _listed(host: str, port: int, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        name, entry_port = _entry(entry)
        if entry_port is not None and entry_port != port:
            continue
        if host == name or (name.startswith(".") and host.endswith(name) and not _is_ip(host)):
            return True
    return False


def check_host(host: str, port: int, allowed: tuple[str, ...]) -> None:
    """HostRefused unless the allow-list names host (and port, if the entry has one)."""
    host = host.lower().strip("[]")
    if not _listed(host, port, allowed):
        listed = ", ".join(allowed) or "nothing"
        raise HostRefused(f"remote forcing host {host}:{port} is not in FORCING_REMOTE_HOSTS (allowed: {listed})")


def public_addresses(host: str, port: int, allowed: tuple[str, ...], lookup=socket.getaddrinfo) -> list:
    """getaddrinfo results for an allowed host, refusing private/loopback/link-local addresses.

    An IP literal written in FORCING_REMOTE_HOSTS is the operator's explicit choice and may be
    private (test servers on 127.0.0.1); a name must resolve to public addresses only.
    """
    check_host(host, port, allowed)
    infos = lookup(host, port, 0, socket.SOCK_STREAM)
    if _is_ip(host):
        return infos
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise HostRefused(f"remote forcing host {host} resolves to the non-public address {address}")
    return infos


def check_url(url: str, allowed: tuple[str, ...]) -> str:
    """The URL, once scheme, credentials, host and resolved addresses are allowed; HostRefused otherwise."""
    _, host, port = split_url(url)
    try:
        public_addresses(host, port, allowed)
    except OSError as e:
        raise HostRefused(f"remote forcing host {host} cannot be resolved: {e}") from e
    return url


def guard_sockets(allowed: tuple[str, ...]) -> None:
    """In a fetch process: every name lookup (so every connection, redirects included) passes the checks."""
    original = socket.getaddrinfo

    def guarded(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        number = int(port) if str(port).isdigit() else socket.getservbyname(str(port))
        lookup = lambda h, p, *_: original(h, p, *args, **kwargs)  # noqa: E731 - the caller's own lookup
        try:
            return public_addresses(name, number, allowed, lookup)
        except HostRefused as e:
            raise socket.gaierror(socket.EAI_FAIL, str(e)) from e

    socket.getaddrinfo = guarded
