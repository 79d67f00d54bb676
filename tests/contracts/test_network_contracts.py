"""City-scoped registration (Membership) and the gateways' service directory (Directory), on
each backend: a city's registrar acts on its own city's organisations only, and only an active
Gateway organisation's current signer or its city's registrar lists it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from node import CITIES, ContractRevert, DirectoryClient, OrgKind, registrar_role
from tests.conftest import Consortium

YULIN = CITIES["yulin"]
LANZHOU = CITIES["lanzhou"]


def revert_of(fn: Callable[[], Any]) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        fn()
    return info.value


def fresh_id() -> bytes:
    return os.urandom(32)


@dataclass
class Net:
    """Two cities, each with its own registrar (one city each) and a member."""

    c: Consortium
    yulin_registrar: LocalAccount
    lanzhou_registrar: LocalAccount
    yulin_member: bytes
    yulin_member_signer: LocalAccount
    lanzhou_member: bytes

    @property
    def directory(self) -> DirectoryClient:
        return self.c.deployment.directory(self.c.chain)

    def register(
        self, registrar: LocalAccount, city: int, kind: OrgKind
    ) -> tuple[bytes, LocalAccount]:
        signer = self.c.new_account()
        org_id = fresh_id()
        self.c.membership.register_org(
            registrar, org_id, city, kind, signer.address, os.urandom(32)
        )
        return org_id, signer


@pytest.fixture
def net(consortium: Consortium) -> Net:
    c = consortium
    yulin, lanzhou = c.new_account(), c.new_account()
    c.membership.grant_city_registrar(c.admin, YULIN, yulin.address)
    c.membership.grant_city_registrar(c.admin, LANZHOU, lanzhou.address)
    n = Net(c, yulin, lanzhou, b"", c.new_account(), b"")
    n.yulin_member, n.yulin_member_signer = n.register(yulin, YULIN, OrgKind.DEPARTMENT)
    n.lanzhou_member, _ = n.register(lanzhou, LANZHOU, OrgKind.FINANCIAL_INSTITUTION)
    return n


# ---------------------------------------------------------------------------------------------
# City-scoped registration
# ---------------------------------------------------------------------------------------------


def test_lanzhou_registrar_cannot_register_or_suspend_a_yulin_member(net: Net) -> None:
    n, mem = net, net.c.membership
    lz = n.lanzhou_registrar
    e = revert_of(
        lambda: mem.register_org(
            lz, fresh_id(), YULIN, OrgKind.DEPARTMENT, n.c.new_account().address, os.urandom(32)
        )
    )
    assert (e.name, e.args_[0].lower(), e.args_[1]) == (
        "NotCityRegistrar",
        lz.address.lower(),
        YULIN,
    )
    e = revert_of(lambda: mem.suspend(lz, n.yulin_member, b"\x01" * 32))
    assert e.name == "NotCityRegistrar"
    assert mem.is_active(n.yulin_member)
    e = revert_of(
        lambda: mem.rotate_keys(lz, n.yulin_member, n.c.new_account().address, os.urandom(32))
    )
    assert e.name == "NotOrgSignerOrRegistrar"
    # Yulin's registrar suspends; Lanzhou's cannot reactivate it either
    mem.suspend(n.yulin_registrar, n.yulin_member, b"\x01" * 32)
    e = revert_of(lambda: mem.reactivate(lz, n.yulin_member))
    assert e.name == "NotCityRegistrar"
    assert not mem.is_active(n.yulin_member)
    # and Yulin's registrar is as powerless over Lanzhou's members
    e = revert_of(lambda: mem.suspend(n.yulin_registrar, n.lanzhou_member, b"\x01" * 32))
    assert e.name == "NotCityRegistrar"


def test_a_city_registrar_manages_its_own_city(net: Net) -> None:
    n, mem = net, net.c.membership
    lz = n.lanzhou_registrar
    org_id, _ = n.register(lz, LANZHOU, OrgKind.CREDIT_OFFICE)
    assert mem.org(org_id).city == LANZHOU
    mem.suspend(lz, org_id, b"\x02" * 32)
    assert not mem.is_active(org_id)
    mem.reactivate(lz, org_id)
    assert mem.is_active(org_id)
    new = n.c.new_account()
    mem.rotate_keys(lz, org_id, new.address, os.urandom(32))  # a lost key
    assert mem.current_keys(org_id).signer == new.address


def test_grant_and_revoke_city_registrar(net: Net) -> None:
    n, mem = net, net.c.membership
    who = n.c.new_account()
    assert not mem.is_registrar(who.address, LANZHOU)
    receipt = mem.grant_city_registrar(n.c.admin, LANZHOU, who.address)
    (ev,) = mem.contract.events.CityRegistrarGranted().process_receipt(receipt, errors=DISCARD)
    assert (ev["args"]["city"], ev["args"]["account"]) == (LANZHOU, who.address)
    (rg,) = mem.contract.events.RoleGranted().process_receipt(receipt, errors=DISCARD)
    assert bytes(rg["args"]["role"]) == registrar_role(LANZHOU)
    assert bytes(n.c.chain.call(mem.contract.functions.registrarRole(LANZHOU))) == (
        registrar_role(LANZHOU)
    )
    assert mem.is_registrar(who.address, LANZHOU)
    assert not mem.is_registrar(who.address, YULIN)
    n.register(who, LANZHOU, OrgKind.UTILITY)
    receipt = mem.revoke_city_registrar(n.c.admin, LANZHOU, who.address)
    (ev,) = mem.contract.events.CityRegistrarRevoked().process_receipt(receipt, errors=DISCARD)
    assert ev["args"]["city"] == LANZHOU
    assert not mem.is_registrar(who.address, LANZHOU)
    assert revert_of(lambda: n.register(who, LANZHOU, OrgKind.UTILITY)).name == "NotCityRegistrar"
    # city zero is not a city; nobody but the admin grants
    assert revert_of(lambda: mem.grant_city_registrar(n.c.admin, 0, who.address)).name == (
        "InvalidCity"
    )
    e = revert_of(lambda: mem.grant_city_registrar(n.yulin_registrar, YULIN, who.address))
    assert e.name == "AccessControlUnauthorizedAccount"
    e = revert_of(lambda: mem.revoke_city_registrar(n.lanzhou_registrar, LANZHOU, lz_addr(n)))
    assert e.name == "AccessControlUnauthorizedAccount"


def lz_addr(n: Net) -> str:
    return n.lanzhou_registrar.address


def test_the_base_registrar_role_gives_no_power(net: Net) -> None:
    """REGISTRAR_ROLE itself (if an admin granted it) is no registrar of any city."""
    n, mem = net, net.c.membership
    who = n.c.new_account()
    base = bytes(n.c.chain.call(mem.contract.functions.REGISTRAR_ROLE()))
    n.c.chain.transact(n.c.admin, mem.contract.functions.grantRole(base, who.address))
    for city in CITIES.values():
        e = revert_of(lambda c=city: n.register(who, c, OrgKind.UTILITY))  # type: ignore[misc]
        assert e.name == "NotCityRegistrar"


# ---------------------------------------------------------------------------------------------
# Directory
# ---------------------------------------------------------------------------------------------

URL = "http://127.0.0.1:8801/"


def test_directory_role_table(net: Net) -> None:
    """setEndpoint/removeEndpoint: the gateway's current signer and its city's registrar may;
    another city's registrar, another gateway, the admin and a stranger may not."""
    n, d = net, net.directory
    gw, gw_signer = n.register(n.yulin_registrar, YULIN, OrgKind.GATEWAY)
    other_gw, other_signer = n.register(n.lanzhou_registrar, LANZHOU, OrgKind.GATEWAY)
    refused = {
        "lanzhou registrar": n.lanzhou_registrar,
        "lanzhou gateway": other_signer,
        "admin": n.c.admin,
        "stranger": n.c.stranger,
        "yulin member": n.yulin_member_signer,
    }
    for who, account in refused.items():
        e = revert_of(lambda a=account: d.set_endpoint(a, gw, URL))  # type: ignore[misc]
        assert e.name == "NotGatewaySignerOrRegistrar", who
        assert e.args_[1].lower() == account.address.lower()
    receipt = d.set_endpoint(gw_signer, gw, URL)
    (ev,) = d.contract.events.EndpointSet().process_receipt(receipt, errors=DISCARD)
    assert (bytes(ev["args"]["gatewayOrg"]), ev["args"]["city"], ev["args"]["url"]) == (
        gw,
        YULIN,
        URL,
    )
    d.set_endpoint(n.yulin_registrar, gw, URL + "v2")
    assert d.endpoint_of(gw).url == URL + "v2"
    for who, account in refused.items():
        e = revert_of(lambda a=account: d.remove_endpoint(a, gw))  # type: ignore[misc]
        assert e.name == "NotGatewaySignerOrRegistrar", who
    receipt = d.remove_endpoint(gw_signer, gw)
    (ev,) = d.contract.events.EndpointRemoved().process_receipt(receipt, errors=DISCARD)
    assert bytes(ev["args"]["gatewayOrg"]) == gw
    assert revert_of(lambda: d.endpoint_of(gw)).name == "NotListed"
    assert revert_of(lambda: d.gateway_of_city(YULIN)).name == "NoGatewayForCity"
    assert revert_of(lambda: d.remove_endpoint(gw_signer, gw)).name == "NotListed"
    d.set_endpoint(n.yulin_registrar, gw, URL)
    assert d.remove_endpoint(n.yulin_registrar, gw)["status"] == 1
    # the other city's gateway lists itself
    d.set_endpoint(other_signer, other_gw, "http://lanzhou.example/")
    assert d.gateway_of_city(LANZHOU).gateway_org == other_gw


def test_directory_state_changing_functions_are_the_tested_ones(net: Net) -> None:
    fns = {
        i["name"]
        for i in net.directory.contract.abi
        if i["type"] == "function" and i["stateMutability"] not in ("view", "pure")
    }
    assert fns == {"setEndpoint", "removeEndpoint"}


def test_only_active_gateways_are_listed(net: Net) -> None:
    n, d = net, net.directory
    # a department is not a gateway, even listed by its registrar
    e = revert_of(lambda: d.set_endpoint(n.yulin_registrar, n.yulin_member, URL))
    assert (e.name, e.args_) == ("NotGateway", (n.yulin_member,))
    e = revert_of(lambda: d.set_endpoint(n.yulin_registrar, fresh_id(), URL))
    assert e.name == "UnknownOrg"
    gw, signer = n.register(n.yulin_registrar, YULIN, OrgKind.GATEWAY)
    for bad in ("", "x" * 257):
        e = revert_of(lambda u=bad: d.set_endpoint(signer, gw, u))  # type: ignore[misc]
        assert e.name == "InvalidEndpoint"
    d.set_endpoint(signer, gw, "h" * 256)
    d.set_endpoint(signer, gw, URL)
    assert d.gateway_of_city(YULIN).url == URL
    # suspended: hidden at once, and cannot list itself again
    n.c.membership.suspend(n.yulin_registrar, gw, b"\x03" * 32)
    assert revert_of(lambda: d.gateway_of_city(YULIN)).name == "GatewayNotActive"
    assert revert_of(lambda: d.endpoint_of(gw)).name == "GatewayNotActive"
    assert YULIN not in d.entries()
    e = revert_of(lambda: d.set_endpoint(signer, gw, URL))
    assert e.name == "GatewayNotActive"
    n.c.membership.reactivate(n.yulin_registrar, gw)
    assert d.gateway_of_city(YULIN).url == URL
    assert d.entries()[YULIN].gateway_org == gw
    assert d.membership_address() == n.c.membership.address


def test_key_rotation_moves_the_right_to_change_the_entry(net: Net) -> None:
    n, d = net, net.directory
    gw, old = n.register(n.yulin_registrar, YULIN, OrgKind.GATEWAY)
    d.set_endpoint(old, gw, URL)
    new = n.c.new_account()
    n.c.membership.rotate_keys(old, gw, new.address, os.urandom(32))
    e = revert_of(lambda: d.set_endpoint(old, gw, "http://evil.example/"))
    assert e.name == "NotGatewaySignerOrRegistrar"
    assert revert_of(lambda: d.remove_endpoint(old, gw)).name == "NotGatewaySignerOrRegistrar"
    d.set_endpoint(new, gw, "http://new.example/")
    assert d.endpoint_of(gw).url == "http://new.example/"


def test_one_gateway_per_city(net: Net) -> None:
    n, d = net, net.directory
    first, s1 = n.register(n.yulin_registrar, YULIN, OrgKind.GATEWAY)
    second, s2 = n.register(n.yulin_registrar, YULIN, OrgKind.GATEWAY)
    lz, s3 = n.register(n.lanzhou_registrar, LANZHOU, OrgKind.GATEWAY)
    d.set_endpoint(s1, first, URL)
    d.set_endpoint(s3, lz, "http://lz/")
    receipt = d.set_endpoint(s2, second, "http://second/")
    (removed,) = d.contract.events.EndpointRemoved().process_receipt(receipt, errors=DISCARD)
    assert bytes(removed["args"]["gatewayOrg"]) == first
    assert d.gateway_of_city(YULIN).gateway_org == second
    assert revert_of(lambda: d.endpoint_of(first)).name == "NotListed"
    assert d.cities() == [YULIN, LANZHOU]
    entries = d.entries()
    assert {c: e.url for c, e in entries.items()} == {
        YULIN: "http://second/",
        LANZHOU: "http://lz/",
    }
    assert entries[YULIN].updated_at > 0
