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
        if not is_public(address):
            raise HostRefused(f"remote forcing host {host} resolves to the non-public address {address}")
    return infos


NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, the embedding depends on the site
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 (deprecated) ::a.b.c.d


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a translator or tunnel would reach for this IPv6 address (RFC 4291, 6052, 3056, 4380, 5214)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in NAT64_WELL_KNOWN or address in IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client); the client address is de-obfuscated by ipaddress
    if (int(address) >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id ::0:5efe:a.b.c.d / ::200:5efe:…
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally reachable, and so is every IPv4 address embedded in it (NAT64, 6to4, Teredo, mapped, ISATAP).

    A name resolving to 64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a NAT64 gateway: the embedded
    IPv4 address gets the same rules as a plain one. The local-use NAT64 prefix is refused outright.
    """
    if address.version == 6 and address in NAT64_LOCAL:
        return False
    if not address.is_global:
        return False
    return address.version == 4 or all(v4.is_global for v4 in embedded_ipv4(address))


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
