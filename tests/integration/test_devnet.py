"""The development bootstrap resumes after a crash midway (found by the SIGKILL test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from gateway._devnet import bootstrap, load_consortium
from gateway._keys import load_secrets
from node import MembershipClient, deploy_all, embedded


class Crash(Exception):
    pass


def test_bootstrap_resumes_after_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = embedded()
    deployer = Account.create()
    chain.fund(deployer.address, 10**22)
    deployment = deploy_all(
        chain, deployer, network="t", log_admins=(deployer.address,), registrars=(deployer.address,)
    )
    secrets = load_secrets(tmp_path / "keys", dev=True)
    real = MembershipClient.register_org
    calls = []

    def crashing(self: MembershipClient, *args: object, **kw: object) -> object:
        if len(calls) == 3:
            raise Crash
        calls.append(args[1])
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(MembershipClient, "register_org", crashing)
    with pytest.raises(Crash):
        bootstrap(tmp_path, chain, deployment, lambda: deployer, secrets)
    monkeypatch.setattr(MembershipClient, "register_org", real)
    orgs = bootstrap(tmp_path, chain, deployment, lambda: deployer, secrets)
    assert len(orgs) == 8
    membership = deployment.membership(chain)
    for org in orgs.values():  # every org registered once, with the keys on disk
        onchain = membership.current_keys(bytes.fromhex(org.org_id[2:]))
        assert onchain.signer == org.address
        if org.slug != "gateway":
            assert org.account().address == org.address
    assert load_consortium(tmp_path) == orgs
    # and a third run changes nothing, without needing the registrar
    assert (
        bootstrap(tmp_path, chain, deployment, lambda: pytest.fail("not needed"), secrets) == orgs
    )
