"""The remote forcing allow-list and the subset geometry (pure logic, no servers, no network)."""

from __future__ import annotations

import socket

import pytest

from config import ConfigError, Settings
from driftline.forcing.netguard import HostRefused, check_host, public_addresses, split_url


def fake_lookup(address: str):
    def lookup(host, port, *_):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return lookup


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("thredds.met.no", 443, ("thredds.met.no",)),
        ("thredds.met.no", 8080, ("thredds.met.no",)),
        ("tds.hycom.org", 443, (".hycom.org",)),
        ("127.0.0.1", 8765, ("127.0.0.1:8765",)),
        ("::1", 80, ("[::1]:80",)),
    ],
)
def test_listed_hosts_pass(host, port, allowed):
    check_host(host, port, allowed)


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("evil.example", 443, ("thredds.met.no",)),
        ("thredds.met.no.evil.example", 443, ("thredds.met.no",)),
        ("hycom.org.evil", 443, (".hycom.org",)),
        ("127.0.0.1", 8766, ("127.0.0.1:8765",)),
        ("10.0.0.1", 80, (".0.0.1",)),  # a domain suffix never matches an IP address
        ("thredds.met.no", 443, ()),
    ],
)
def test_unlisted_hosts_are_refused(host, port, allowed):
    with pytest.raises(HostRefused):
        check_host(host, port, allowed)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.5", "169.254.169.254", "::1", "fd00::1"])
def test_a_listed_name_resolving_to_a_non_public_address_is_refused(address):
    with pytest.raises(HostRefused, match="non-public"):
        public_addresses("models.example.org", 443, ("models.example.org",), fake_lookup(address))


def test_a_listed_name_resolving_to_a_public_address_passes():
    assert public_addresses("models.example.org", 443, (".example.org",), fake_lookup("151.101.1.1"))


@pytest.mark.parametrize(
    "url", ["ftp://thredds.met.no/x", "file:///etc/passwd", "gopher://a/b", "https://u:p@thredds.met.no/x", "http:///x"]
)
def test_only_plain_http_urls_without_credentials(url):
    with pytest.raises(HostRefused):
        split_url(url)


def test_setting_is_parsed_and_checked():
    assert Settings.from_env(
        {"FORCING_REMOTE_HOSTS": " Thredds.MET.no, .hycom.org,127.0.0.1:9 "}
    ).forcing_remote_hosts == (
        "thredds.met.no",
        ".hycom.org",
        "127.0.0.1:9",
    )
    assert Settings.from_env({}).forcing_remote_hosts == ()
    with pytest.raises(ConfigError, match="FORCING_REMOTE_HOSTS"):
        Settings.from_env({"FORCING_REMOTE_HOSTS": "https://thredds.met.no/thredds"})


# --- IPv4 addresses embedded in IPv6 get the IPv4 rules ------------------------------
EMBEDDING_PRIVATE = {
    "nat64 metadata": "64:ff9b::a9fe:a9fe",  # 169.254.169.254
    "nat64 rfc1918": "64:ff9b::a00:1",  # 10.0.0.1
    "nat64 loopback dotted": "64:ff9b::127.0.0.1",
    "nat64 local-use prefix": "64:ff9b:1::a9fe:a9fe",
    "nat64 local-use public v4": "64:ff9b:1:0:0:0:808:808",
    "6to4 metadata": "2002:a9fe:a9fe::1",
    "6to4 rfc1918": "2002:c0a8:0101::1",  # 192.168.1.1
    "ipv4-mapped": "::ffff:169.254.169.254",
    "ipv4-mapped rfc1918": "::ffff:10.1.2.3",
    "ipv4-compatible": "::10.1.2.3",
    "teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "teredo private client": "2001:0:808:808:0:f5ff:5601:56fe",  # client 10.254.169.1 (obfuscated)
    "isatap rfc1918": "2600::5efe:a00:1",
}


@pytest.mark.parametrize("name", sorted(EMBEDDING_PRIVATE))
def test_a_name_resolving_to_an_ipv6_address_that_embeds_a_private_ipv4_is_refused(name):
    with pytest.raises(HostRefused, match="non-public"):
        public_addresses("data.example", 443, ("data.example",), fake_lookup(EMBEDDING_PRIVATE[name]))


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2a00:1450:4001:82a::200e"])
def test_ipv6_addresses_embedding_public_ipv4_or_none_pass(address):
    assert public_addresses("data.example", 443, ("data.example",), fake_lookup(address))
