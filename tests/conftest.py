"""Shared fixtures: the two chain backends (eth-tester in-process, anvil as a separate process)
with freshly deployed contracts and one funded account per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node import (
    CITIES,
    AnvilNode,
    Chain,
    CheckpointLogClient,
    Deployment,
    MembershipClient,
    deploy_all,
    embedded,
)

BACKENDS = ("embedded", "anvil")
FUNDING = 10**21


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """One anvil process for the session; each test deploys its own contracts on it."""
    with AnvilNode() as node:
        yield node


@dataclass
class Consortium:
    """A deployment with one account per role, on one backend."""

    chain: Chain
    deployment: Deployment
    admin: LocalAccount
    log_admin: LocalAccount
    registrar: LocalAccount
    operator: LocalAccount
    stranger: LocalAccount

    @property
    def log(self) -> CheckpointLogClient:
        return self.deployment.checkpoint_log(self.chain)

    @property
    def membership(self) -> MembershipClient:
        return self.deployment.membership(self.chain)

    def new_account(self) -> LocalAccount:
        account: LocalAccount = Account.create()
        self.chain.fund(account.address, FUNDING)
        return account


def make_consortium(
    chain: Chain, admin_delay: int = 3600, registrar_cities: tuple[int, ...] | None = None
) -> Consortium:
    """``registrar`` is the registrar of ``registrar_cities`` (default: the six cities)."""
    accounts = [Account.create() for _ in range(5)]
    for a in accounts:
        chain.fund(a.address, FUNDING)
    admin, log_admin, registrar, operator, stranger = accounts
    deployment = deploy_all(
        chain,
        admin,
        network="test",
        admin_delay=admin_delay,
        log_admins=(log_admin.address,),
        registrars=(registrar.address,),
        registrar_cities=tuple(CITIES.values()) if registrar_cities is None else registrar_cities,
    )
    return Consortium(chain, deployment, admin, log_admin, registrar, operator, stranger)


@pytest.fixture(params=BACKENDS)
def backend_chain(request: pytest.FixtureRequest) -> Chain:
    if request.param == "embedded":
        return embedded()
    node: AnvilNode = request.getfixturevalue("anvil_node")
    return node.chain()


@pytest.fixture
def consortium(backend_chain: Chain) -> Consortium:
    return make_consortium(backend_chain)
