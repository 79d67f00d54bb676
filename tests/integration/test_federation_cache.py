"""Cross-city reads ask the chain for Membership and Directory answers no more often than a
local read does: both gateways reuse them for ``members.ttl`` seconds, as they do for local
requests (scripts/bench_federation.py measured ~5 ms per uncached eth_call through web3, six of
them per cross-city read); a partner that fails is looked up again at once, and a requester's
freshly rotated encryption key is asked of the chain before a mismatch is refused."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from gateway.client import ClientError
from gateway.federated_client import CrossCityReader
from tests.integration import test_federation as _two_cities
from tests.integration.conftest import chain_clock
from tests.integration.test_federation import (
    Net,
    _dead_url,
    cross_reader,
    granted,
    read_kwargs,
    submitted,
)

net = _two_cities.net  # the two-city fixture


def _count_calls(net: Net, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Membership and Directory view calls made through the shared chain, by function."""
    d = net.yulin.runtime.deployment
    watched = {d.address("Membership").lower(), d.address("Directory").lower()}
    calls: Counter[str] = Counter()
    original = net.chain.call

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if str(fn.address).lower() in watched:
            calls[fn.fn_name] += 1
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(net.chain, "call", call)
    return calls


def _fresh_caches(net: Net) -> None:
    for env in (net.yulin, net.lanzhou):
        env.runtime.gateway.members.ttl = 3600


def test_a_repeated_cross_city_read_makes_no_membership_or_directory_call(
    net: Net,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fresh_caches(net)
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    assert reader.read(**read_kwargs(net, rec["subject"], grant))["records"]  # warms the caches
    calls = _count_calls(net, monkeypatch)
    for _ in range(3):
        assert reader.read(**read_kwargs(net, rec["subject"], grant))["records"]
    assert calls == Counter()


def test_a_failed_partner_is_looked_up_again_at_once(net: Net) -> None:
    _fresh_caches(net)
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    yulin = net.yulin.runtime
    directory = yulin.deployment.directory(net.chain)
    url = net.yulin.url
    directory.set_endpoint(yulin.secrets.signer, yulin.gateway.gateway_org, _dead_url())
    with pytest.raises(ClientError) as info:
        cross_reader(net).read(**read_kwargs(net, rec["subject"], grant))
    assert info.value.status == 502
    # the partner is listed at its working URL again: the next read finds it
    directory.set_endpoint(yulin.secrets.signer, yulin.gateway.gateway_org, url)
    assert cross_reader(net).read(**read_kwargs(net, rec["subject"], grant))["records"]


def test_a_rotated_encryption_key_is_asked_of_the_chain_before_refusing(net: Net) -> None:
    """The partner has the requester's old keys cached; the requester registers a new X25519
    key and signs with it: accepted (the cache is refreshed on the mismatch), sealed to it."""
    _fresh_caches(net)
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    assert reader.read(**read_kwargs(net, rec["subject"], grant))["records"]  # caches the keys
    lanzhou = net.lanzhou.runtime
    bank = lanzhou.consortium["bank"]
    new = X25519PrivateKey.generate()
    public = new.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    membership = lanzhou.deployment.membership(net.chain)
    signer = Account.create()
    membership.rotate_keys(
        net.lanzhou.deployer, bytes.fromhex(bank.org_id[2:]), signer.address, public
    )
    d = lanzhou.deployment
    rotated = CrossCityReader(
        net.lanzhou.url,
        signer,
        bytes.fromhex(bank.org_id[2:]),
        new.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        ),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=net.lanzhou.http,
        clock=lambda: chain_clock(net.chain),
    )
    assert rotated.encryption_key == public
    assert rotated.read(**read_kwargs(net, rec["subject"], grant))["records"]
