"""relay.segments decisions on a described host: when the 三層 start check applies and
what it counts as routing between the legs (the real host: tests/e2e/test_netns.py)."""

from __future__ import annotations

import ipaddress

import pytest

from relay.segments import Host, HostRoutes, Leg, check, findings

LEGS = [Leg("lgwan", "10.20.30.40", ""), Leg("internet", "203.0.113.10", "")]
ADDRS = {"ens3": [ipaddress.ip_interface("10.20.30.40/24"), ipaddress.ip_interface("fe80::1/64")],
         "ens4": [ipaddress.ip_interface("203.0.113.10/24"),
                  ipaddress.ip_interface("fe80::2/64")]}
CONNECTED = [{"dst": "10.20.30.0/24", "dev": "ens3", "protocol": "kernel", "scope": "link"},
             {"dst": "203.0.113.0/24", "dev": "ens4", "protocol": "kernel", "scope": "link"},
             {"dst": "default", "gateway": "203.0.113.1", "dev": "ens4"},
             {"dst": "fe80::/64", "dev": "ens3"}, {"dst": "fe80::/64", "dev": "ens4"},
             {"type": "local", "dst": "10.20.30.40", "dev": "ens3", "table": "local"}]
OFF = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0",
       "net.ipv4.conf.ens3.forwarding": "0", "net.ipv4.conf.ens4.forwarding": "0"}


def test_the_embedded_default_on_loopback_starts_on_a_host_that_forwards() -> None:
    loopback = [Leg("lgwan", "127.0.0.1", ""), Leg("internet", "127.0.0.1", "")]
    routed = Host({"net.ipv4.ip_forward": "1"}, {}, [])
    assert check(loopback, allow=False, host=routed) == []


def test_a_dual_homed_host_without_forwarding_or_crossing_routes_passes() -> None:
    assert findings(LEGS, Host(OFF, ADDRS, CONNECTED)) == []


def test_forwarding_on_the_host_or_on_one_leg_is_routing() -> None:
    assert findings(LEGS, Host({**OFF, "net.ipv4.ip_forward": "1"}, ADDRS, CONNECTED)) == [
        "net.ipv4.ip_forward=1"]
    assert findings(LEGS, Host({**OFF, "net.ipv4.conf.ens3.forwarding": "1"}, ADDRS,
                               CONNECTED)) == ["net.ipv4.conf.ens3.forwarding=1"]
    assert findings(LEGS, Host({**OFF, "net.ipv6.conf.all.forwarding": "1"}, ADDRS,
                               CONNECTED)) == ["net.ipv6.conf.all.forwarding=1"]


def test_a_route_to_the_other_legs_network_through_this_leg_is_routing() -> None:
    crossing = {"dst": "203.0.113.0/25", "gateway": "10.20.30.1", "dev": "ens3"}
    assert findings(LEGS, Host(OFF, ADDRS, CONNECTED + [crossing])) == [
        "route 203.0.113.0/25 via 10.20.30.1 dev ens3: the internet leg's network through "
        "the lgwan leg"]


def test_refused_unless_allowed_then_the_findings_are_returned() -> None:
    routed = Host({**OFF, "net.ipv4.ip_forward": "1"}, ADDRS, CONNECTED)
    with pytest.raises(HostRoutes, match="allow_routing"):
        check(LEGS, allow=False, host=routed)
    assert check(LEGS, allow=True, host=routed) == ["net.ipv4.ip_forward=1"]
