"""Cross-city reads (issue 10 item 3 and its faults), in process: two city gateways — Yulin
and Lanzhou, each with its own database, keys and consortium, one network pepper — on ONE
embedded chain (eth-tester), each served by uvicorn on its own loopback port, talking to each
other over real HTTP; partners that are down, slow or answer garbage are real loopback
servers too."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from gateway._config import AnchorPolicy, Settings
from gateway._devnet import CITIES, bootstrap
from gateway._federation import FORWARD_TYPE, request_hash
from gateway._keys import load_secrets
from gateway._runtime import build
from gateway.client import ClientError, ReaderClient
from gateway.domain.canonical import canonicalize
from gateway.domain.errors import SealedOpenFailed
from gateway.domain.records import hex0x, parse_receipt, receipt_signer
from gateway.domain.sealed import open_sealed
from gateway.domain.signing import fast_typed_signer
from gateway.federated_client import CrossCityReader
from node import Chain, GrantBasis, deploy_all, embedded, free_port
from node._accounts import private_dir
from tests.integration.conftest import Env, _Server, chain_clock
from tests.integration.test_reads import commitment_of, make_grant, org_id

PROBLEM = "https://creditchain.example/problems/"
YULIN, LANZHOU = CITIES["yulin"].code, CITIES["lanzhou"].code
DAY = 86_400
CATS = ["tax_credit_rating"]


@dataclass
class Net:
    chain: Chain
    yulin: Env
    lanzhou: Env
    servers: list[tuple[_Server, threading.Thread]]

    def x25519(self, env: Env, slug: str) -> bytes:
        path = env.runtime.settings.data_dir / "keys" / "orgs" / f"{slug}.x25519"
        return bytes.fromhex(path.read_text().strip())


def _serve(app: Any) -> tuple[str, _Server, threading.Thread]:
    port = free_port()
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=75)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    chain = embedded()
    deployer = Account.create()
    chain.fund(deployer.address, 10**22)
    deployment = deploy_all(
        chain,
        deployer,
        network="t",
        log_admins=(deployer.address,),
        registrars=(deployer.address,),
        registrar_cities=(YULIN, LANZHOU),
    )
    envs: list[Env] = []
    servers: list[tuple[_Server, threading.Thread]] = []
    http_client = httpx.Client(timeout=30)
    for slug in ("yulin", "lanzhou"):
        data = tmp_path / slug
        settings = Settings(
            data_dir=data,
            dev=True,
            database_url=f"sqlite:///{tmp_path / (slug + '.db')}",
            anchor=AnchorPolicy(max_merge_delay=60),
        )
        private_dir(data)
        private_dir(settings.keys_dir)
        if envs:  # one network pepper
            shutil.copyfile(
                envs[0].runtime.settings.keys_dir / "pepper", settings.keys_dir / "pepper"
            )
            (settings.keys_dir / "pepper").chmod(0o600)
            secrets = load_secrets(settings.keys_dir, dev=True)
            try:
                bootstrap(data, chain, deployment, lambda: deployer, secrets, CITIES[slug])
            finally:
                secrets.keks.release()
        runtime = build(
            settings,
            chain=chain,
            deployment=deployment,
            registrar=deployer,
            clock=lambda: chain_clock(chain),
        )
        runtime.reader.block_cache_seconds = 0
        url, server, thread = _serve(runtime.app)
        servers.append((server, thread))
        deployment.directory(chain).set_endpoint(
            runtime.secrets.signer, runtime.gateway.gateway_org, url
        )
        envs.append(Env(runtime, url, deployer, http_client))
    yield Net(chain, envs[0], envs[1], servers)
    http_client.close()
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)
    for env in envs:
        env.runtime.close()


def cross_reader(net: Net, slug: str = "bank", home: Env | None = None) -> CrossCityReader:
    env = home or net.lanzhou
    org = env.runtime.consortium[slug]
    d = env.runtime.deployment
    return CrossCityReader(
        env.url,
        org.account(),
        bytes.fromhex(org.org_id[2:]),
        net.x25519(env, slug),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(net.chain),
    )


def submitted(net: Net) -> dict[str, Any]:
    """A Yulin tax record, accepted; its subject."""
    rec = net.yulin.record("tax")
    net.yulin.client("tax").submit([rec])
    return rec


def granted(
    net: Net, subject: dict[str, str], *, basis: GrantBasis = GrantBasis.STATUTORY
) -> bytes:
    now = int(chain_clock(net.chain))
    return make_grant(
        net.yulin,
        subject=commitment_of(net.yulin, subject),
        grantee=org_id(net.lanzhou, "bank"),
        purpose="loan_approval",
        categories=CATS,
        start=now - DAY,
        end=now + DAY,
        basis=basis,
    )


def mask(net: Net) -> int:
    return net.yulin.runtime.gateway.catalog.category_mask(CATS)


def entries(env: Env) -> list[dict[str, Any]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT entry FROM log_entry WHERE log_name = 'access' ORDER BY idx")
        ).all()
    return [json.loads(bytes(r[0])) for r in rows]


def read_kwargs(net: Net, subject: dict[str, str], grant: bytes | None) -> dict[str, Any]:
    return {
        "target_city": YULIN,
        "purpose": "loan_approval",
        "categories": CATS,
        "category_mask": mask(net),
        "subject": subject,
        "grant_id": grant,
    }


# ---------------------------------------------------------------------------------------------
# The read, both sides logged, the payload for the requester only
# ---------------------------------------------------------------------------------------------


def test_cross_city_read_is_sealed_to_the_requester_and_logged_on_both_sides(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    body = reader.build(**read_kwargs(net, rec["subject"], grant))
    answer = reader.send(body)
    assert answer["decision"] == "allow"
    assert answer["city"] == YULIN
    (got,) = answer["records"]
    assert got["fields"]
    assert got["fields"].items() <= rec["fields"].items()  # the released fields
    assert got["category"] == "tax_credit_rating"
    # nothing in clear on the wire the home gateway relays
    assert "records" not in json.dumps({k: v for k, v in answer.items() if k != "records"})
    rhash = request_hash(body)
    # B's receipt: signed by Yulin's gateway key, for Yulin's access log
    receipt = parse_receipt(answer["access_receipt"])
    yulin_gw = net.yulin.runtime.gateway.gateway_org
    assert receipt.gateway == yulin_gw
    assert receipt_signer(receipt, net.yulin.runtime.gateway.domain) == (
        net.yulin.runtime.secrets.signer.address
    )
    b_entry = entries(net.yulin)[receipt.index]
    assert b_entry["kind"] == "access"
    assert b_entry["decision"] == "allow"
    assert b_entry["sig"]["type"] == "RemoteReadRequest"
    assert b_entry["requester"] == hex0x(org_id(net.lanzhou, "bank"))
    assert b_entry["cross_city"]["request_hash"] == rhash.hex()
    assert b_entry["cross_city"]["from_city"] == LANZHOU
    assert rec["subject"]["id"] not in json.dumps(b_entry)
    # A's forward entry names B's receipt and the request hash, no identifier in clear
    forward = parse_receipt(answer["forward_receipt"])
    a_entry = entries(net.lanzhou)[forward.index]
    assert a_entry["kind"] == "forward"
    assert a_entry["outcome"] == "relayed"
    assert a_entry["request_hash"] == rhash.hex()
    assert a_entry["target_city"] == YULIN
    assert a_entry["partner_receipt"]["leaf_hash"] == answer["access_receipt"]["leaf_hash"]
    assert a_entry["partner_receipt"]["index"] == receipt.index
    assert rec["subject"]["id"] not in json.dumps(a_entry)
    # the home gateway cannot open what it relays: neither with its own registered
    # encryption key nor with its signing key's bytes
    gw_x25519 = net.x25519(net.lanzhou, "gateway")
    for key in (gw_x25519, bytes(net.lanzhou.runtime.secrets.signer.key)):
        with pytest.raises(SealedOpenFailed):
            open_sealed(key, answer["sealed"], rhash)
    # nor can anyone open it for another request
    with pytest.raises(SealedOpenFailed):
        open_sealed(net.x25519(net.lanzhou, "bank"), answer["sealed"], os.urandom(32))
    # and the subject in Yulin sees the Lanzhou bank's access in its own view
    assert any(e.get("cross_city") for e in entries(net.yulin))


def test_client_read_cross_city_method(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"], basis=GrantBasis.CONSENT)
    org = net.lanzhou.runtime.consortium["bank"]
    d = net.lanzhou.runtime.deployment
    client = ReaderClient(
        net.lanzhou.url,
        org.account(),
        bytes.fromhex(org.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=net.lanzhou.http,
        clock=lambda: chain_clock(net.chain),
    )
    kw = read_kwargs(net, rec["subject"], grant)
    kw.pop("target_city")
    answer = client.read_cross_city(YULIN, net.x25519(net.lanzhou, "bank"), **kw)
    assert answer["records"][0]["fields"].items() <= rec["fields"].items()


def test_denial_and_revocation_are_relayed_and_logged_on_both_sides(net: Net) -> None:
    rec = submitted(net)
    reader = cross_reader(net)
    with pytest.raises(ClientError) as info:
        reader.read(**read_kwargs(net, rec["subject"], None))
    p = info.value.problem
    assert info.value.status == 403
    assert p["city"] == YULIN
    assert p["access_receipt"]["gateway"] == hex0x(net.yulin.runtime.gateway.gateway_org)
    assert entries(net.yulin)[p["access_receipt"]["index"]]["decision"] == "deny"
    a_entry = entries(net.lanzhou)[p["forward_receipt"]["index"]]
    assert (a_entry["outcome"], a_entry["partner_status"]) == ("denied", 403)
    # granted, read, revoked: denied from the next confirmed block on
    grant = granted(net, rec["subject"])
    assert reader.read(**read_kwargs(net, rec["subject"], grant))["records"]
    grants = net.yulin.runtime.deployment.grants(net.chain)
    grants.revoke_grant(net.yulin.runtime.consortium["credit-office"].account(), grant)
    with pytest.raises(ClientError) as info:
        reader.read(**read_kwargs(net, rec["subject"], grant))
    assert info.value.status == 403
    assert "sealed" not in info.value.problem


# ---------------------------------------------------------------------------------------------
# The partner down, slow, or answering garbage
# ---------------------------------------------------------------------------------------------


class _Garbage(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self) -> None:
        time.sleep(self.delay)
        body = b"<html>surprise</html>"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


class _Slow(_Garbage):
    delay = 3.0


def _fake_partner(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[str, Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens


@pytest.mark.parametrize(
    ("partner", "status", "code", "reason"),
    [
        ("down", 502, "partner-unavailable", "partner-unreachable"),
        ("slow", 504, "partner-timeout", "partner-timeout"),
        ("garbage", 502, "partner-unavailable", "partner-garbage"),
    ],
)
def test_partner_faults_answer_a_problem_naming_the_city_and_are_logged(
    net: Net, partner: str, status: int, code: str, reason: str
) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    fake = None
    if partner == "down":
        url = _dead_url()
    else:
        url, fake = _fake_partner(_Slow if partner == "slow" else _Garbage)
    directory = net.yulin.runtime.deployment.directory(net.chain)
    directory.set_endpoint(
        net.yulin.runtime.secrets.signer, net.yulin.runtime.gateway.gateway_org, url
    )
    assert net.lanzhou.runtime.federation is not None
    net.lanzhou.runtime.federation.timeout = 1.0
    before = len(entries(net.lanzhou))
    started = time.monotonic()
    try:
        with pytest.raises(ClientError) as info:
            cross_reader(net).read(**read_kwargs(net, rec["subject"], grant))
    finally:
        if fake is not None:
            fake.shutdown()
    assert time.monotonic() - started < 10  # nothing hangs
    p = info.value.problem
    assert info.value.status == status
    assert p["type"] == PROBLEM + code
    assert p["city"] == YULIN
    assert str(YULIN) in p["detail"]
    (a_entry,) = entries(net.lanzhou)[before:]
    assert (a_entry["kind"], a_entry["outcome"], a_entry["reason"]) == (
        "forward",
        "failed",
        reason,
    )
    assert a_entry["partner_receipt"] is None
    assert entries(net.lanzhou)[p["forward_receipt"]["index"]] == a_entry  # its receipt


def test_no_gateway_listed_for_the_city(net: Net) -> None:
    rec = submitted(net)
    kw = read_kwargs(net, rec["subject"], None)
    kw["target_city"] = CITIES["hohhot"].code
    with pytest.raises(ClientError) as info:
        cross_reader(net).read(**kw)
    assert info.value.status == 404
    assert info.value.problem["type"] == PROBLEM + "partner-unknown"
    assert entries(net.lanzhou)[-1]["outcome"] == "failed"


# ---------------------------------------------------------------------------------------------
# Forged forwards, sent straight to the partner
# ---------------------------------------------------------------------------------------------


def forward_of(
    net: Net,
    request: dict[str, Any],
    *,
    key: Any = None,
    from_gateway: bytes | None = None,
    to_city: int = YULIN,
) -> dict[str, Any]:
    gw = net.lanzhou.runtime.gateway
    from_gateway = from_gateway or gw.gateway_org
    now = int(chain_clock(net.chain))
    nonce = os.urandom(32)
    rhash = request_hash(request)
    sign = fast_typed_signer(key or net.lanzhou.runtime.secrets.signer.key, gw.domain)
    signature = sign(
        FORWARD_TYPE,
        {
            "fromGateway": from_gateway,
            "toCity": to_city,
            "requestHash": rhash,
            "forwardedAt": now,
            "nonce": nonce,
        },
    )
    return {
        "request": request,
        "from_gateway": hex0x(from_gateway),
        "to_city": to_city,
        "request_hash": hex0x(rhash),
        "forwarded_at": now,
        "nonce": hex0x(nonce),
        "signature": hex0x(signature),
    }


def send_forward(net: Net, forward: dict[str, Any]) -> httpx.Response:
    return net.yulin.http.post(f"{net.yulin.url}/v1/federation/forward", json=forward)


def test_a_valid_forward_then_its_replay(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], grant))
    fwd = forward_of(net, body)
    ok = send_forward(net, fwd)
    assert ok.status_code == 200
    assert "sealed" in ok.json()
    again = send_forward(net, fwd)
    assert again.status_code == 409
    assert "sealed" not in again.json()
    # a fresh forward of the same request: the requester's nonce is spent
    third = send_forward(net, forward_of(net, body))
    assert third.status_code == 409
    assert "sealed" not in third.json()


def _refused(net: Net, response: httpx.Response, status: int, code: str) -> None:
    """Refused with a problem, logged as a denial at Yulin, nothing released."""
    assert response.status_code == status, response.text
    p = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert p["type"] == PROBLEM + code
    assert "sealed" not in p
    assert "records" not in p
    receipt = p["access_receipt"]
    entry = entries(net.yulin)[receipt["index"]]
    assert entry["decision"] == "deny"
    assert entry["reason"] == code


def test_forward_signed_by_a_non_gateway_key(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], grant))
    bank = net.lanzhou.runtime.consortium["bank"]
    fwd = forward_of(net, body, key=bank.account().key, from_gateway=org_id(net.lanzhou, "bank"))
    _refused(net, send_forward(net, fwd), 403, "not-a-gateway")


def test_forward_by_a_suspended_gateway(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], grant))
    membership = net.lanzhou.runtime.deployment.membership(net.chain)
    lz_gw = net.lanzhou.runtime.gateway.gateway_org
    membership.suspend(net.yulin.deployer, lz_gw, b"\x01" * 32)
    net.yulin.runtime.gateway.members.forget(lz_gw)
    _refused(net, send_forward(net, forward_of(net, body)), 403, "org-suspended")


def test_forward_of_a_requester_of_another_city(net: Net) -> None:
    """Lanzhou's gateway forwards a Yulin bank's request: the requester is not Lanzhou's."""
    rec = submitted(net)
    body = cross_reader(net, home=net.yulin).build(**read_kwargs(net, rec["subject"], None))
    _refused(net, send_forward(net, forward_of(net, body)), 403, "requester-not-of-city")


def test_forward_whose_requester_signature_does_not_match(net: Net) -> None:
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], grant))
    body["purpose"] = "public_procurement"  # changed after signing
    _refused(net, send_forward(net, forward_of(net, body)), 401, "signer-mismatch")


def test_forward_with_an_encryption_key_not_the_requesters(net: Net) -> None:
    """The home gateway swaps in a key of its own and re-signs the forward: refused."""
    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    # the requester signed with a key that is not its registered one
    from cryptography.hazmat.primitives import serialization

    other = X25519PrivateKey.generate()
    reader.encryption_key = other.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    body = reader.build(**read_kwargs(net, rec["subject"], grant))
    _refused(net, send_forward(net, forward_of(net, body)), 403, "encryption-key-mismatch")


def test_forward_for_another_city(net: Net) -> None:
    rec = submitted(net)
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], None))
    fwd = forward_of(net, body, to_city=CITIES["hohhot"].code)
    _refused(net, send_forward(net, fwd), 403, "wrong-target-city")


def test_request_hash_binds_the_forward(net: Net) -> None:
    rec = submitted(net)
    body = cross_reader(net).build(**read_kwargs(net, rec["subject"], None))
    fwd = forward_of(net, body)
    fwd["request"] = {**body, "purpose": "public_procurement"}
    r = send_forward(net, fwd)
    assert r.status_code == 422
    assert "sealed" not in r.json()
    assert canonicalize(body) != canonicalize(fwd["request"])


# ---------------------------------------------------------------------------------------------
# Both sides audited: reconcile
# ---------------------------------------------------------------------------------------------


def _log_signer(net: Net, auditor_env: Env) -> Any:
    """Signed LogRequests of ``auditor_env``'s auditor, on the chain's clock."""
    from gateway.client import build_log_request

    auditor = auditor_env.runtime.consortium["auditor"]
    sign = fast_typed_signer(auditor.account(), auditor_env.runtime.gateway.domain)

    def build(action: str, start: int, end: int) -> dict[str, Any]:
        return build_log_request(
            sign,
            org_id=bytes.fromhex(auditor.org_id[2:]),
            action=action,
            start=start,
            end=end,
            signed_at=int(chain_clock(net.chain)),
            nonce=os.urandom(32),
        )

    return build


def _sides(net: Net, auditor_env: Env) -> tuple[Any, Any]:
    from gateway._reconcile import fetch_side
    from gateway.domain.records import log_id

    d = auditor_env.runtime.deployment
    sign = _log_signer(net, auditor_env)
    log = d.checkpoint_log(net.chain)
    sides = []
    for env, code in ((net.lanzhou, LANZHOU), (net.yulin, YULIN)):
        org = env.runtime.gateway.gateway_org
        cps = log.checkpoints(log_id(org, "access"))
        sides.append(fetch_side(env.http, code, org, env.url, cps, sign))
    return sides[0], sides[1]


def test_reconcile_is_clean_then_reports_a_deleted_cross_city_entry(net: Net) -> None:
    from gateway._audit import verify_log
    from gateway._reconcile import reconcile
    from gateway.domain.records import log_id

    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    answers = [reader.read(**read_kwargs(net, rec["subject"], grant)) for _ in range(2)]
    with pytest.raises(ClientError):
        reader.read(**read_kwargs(net, rec["subject"], None))  # a denial: logged both sides
    for env in (net.yulin, net.lanzhou):
        env.anchor()
    home, partner = _sides(net, net.lanzhou)
    report = reconcile(home, partner)
    assert report.ok, [str(f) for f in report.findings]
    assert report.matched == 3
    assert home.proven
    assert partner.proven
    # and `creditchain check` finds every row of both gateways in line with their logs
    for env in (net.yulin, net.lanzhou):
        assert [str(f) for f in env.runtime.gateway.integrity()] == []
    # Yulin's operator deletes the access entry of the first cross-city read
    victim = answers[0]["access_receipt"]["index"]
    with net.yulin.runtime.engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM log_entry WHERE log_name = 'access' AND idx = :i"), {"i": victim}
        )
    home, partner = _sides(net, net.lanzhou)
    report = reconcile(home, partner)
    assert not report.ok
    checks = {(f.check, f.city) for f in report.findings}
    assert ("unproven", YULIN) in checks
    assert ("missing-at-partner", LANZHOU) in checks or ("receipt-mismatch", YULIN) in checks
    # and audit verify of Yulin's access log reports it too
    d = net.yulin.runtime.deployment
    cps = d.checkpoint_log(net.chain).checkpoints(
        log_id(net.yulin.runtime.gateway.gateway_org, "access")
    )
    audit = verify_log(
        net.yulin.http,
        net.yulin.url,
        "access",
        cps,
        sign=_log_signer(net, net.lanzhou),
    )
    assert not audit.ok


def test_reconcile_reports_a_forward_the_partner_never_logged(net: Net) -> None:
    """The converse: a forward entry at Lanzhou naming a receipt Yulin's log does not hold
    (planted by hand) is reported; a cross-city entry at Yulin with no forward at Lanzhou too."""
    from gateway._reconcile import reconcile

    rec = submitted(net)
    grant = granted(net, rec["subject"])
    cross_reader(net).read(**read_kwargs(net, rec["subject"], grant))
    home, partner = _sides(net, net.yulin)
    # drop Lanzhou's forward entries from what was served: Yulin's entry has no forward
    home.entries = [e for e in home.entries if b'"kind":"forward"' not in e]
    report = reconcile(home, partner)
    assert [f.check for f in report.findings] == ["missing-at-home"]
    assert report.findings[0].city == YULIN


def test_the_subject_sees_the_other_citys_reads_in_its_own_view_with_proofs(net: Net) -> None:
    from gateway._subjects import subject_digest
    from gateway.domain.identifiers import parse_subject_id
    from gateway.domain.merkle import leaf_hash, verify_inclusion
    from gateway.domain.signing import typed_signer

    rec = submitted(net)
    grant = granted(net, rec["subject"])
    reader = cross_reader(net)
    reader.read(**read_kwargs(net, rec["subject"], grant))
    with pytest.raises(ClientError):
        reader.read(**read_kwargs(net, rec["subject"], None))
    env = net.yulin
    env.anchor()
    key = Account.create()
    env.runtime.deployment.grants(env.chain).bind_subject_key(
        env.runtime.consortium["credit-office"].account(),
        commitment_of(env, rec["subject"]),
        key.address,
    )
    salt, nonce, signed_at = os.urandom(32), os.urandom(32), int(chain_clock(env.chain))
    subject = parse_subject_id(rec["subject"]["id"], kind=rec["subject"]["kind"])
    signature = typed_signer(key, env.runtime.gateway.domain)(
        "SubjectQuery",
        {
            "subjectDigest": subject_digest(salt, subject),
            "action": "accesses",
            "signedAt": signed_at,
            "nonce": nonce,
        },
    )
    body = {
        "subject": rec["subject"],
        "subject_salt": salt.hex(),
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(signature),
    }
    answer = env.http.post(f"{env.url}/v1/subjects/accesses", json=body).json()
    lanzhou_bank = net.lanzhou.runtime.consortium["bank"].org_id
    mine = [d for d in answer["decisions"] if d["requester"] == lanzhou_bank]
    assert sorted(d["decision"] for d in mine) == ["allow", "deny"]
    cp = answer["checkpoint"]
    for d in mine:
        assert json.loads(d["entry"])["cross_city"]["from_city"] == LANZHOU
        assert verify_inclusion(
            leaf_hash(d["entry"].encode()),
            d["log_index"],
            cp["size"],
            [bytes.fromhex(p) for p in d["inclusion"]],
            bytes.fromhex(cp["root"]),
        )


def test_the_home_gateway_refuses_and_logs_a_request_from_another_citys_member(net: Net) -> None:
    """A Yulin bank sends its cross-city request to Lanzhou's gateway: refused there (the home
    gateway is one's own city's), logged, nothing forwarded."""
    rec = submitted(net)
    body = cross_reader(net, home=net.yulin).build(**read_kwargs(net, rec["subject"], None))
    body_to_self = cross_reader(net).build(
        **{**read_kwargs(net, rec["subject"], None), "target_city": LANZHOU}
    )
    yulin_before = len(entries(net.yulin))
    for b, code in ((body, "requester-not-of-city"), (body_to_self, "wrong-target-city")):
        r = net.lanzhou.http.post(f"{net.lanzhou.url}/v1/federation/reads", json=b)
        assert r.status_code == 403
        p = r.json()
        assert p["type"] == PROBLEM + code
        entry = entries(net.lanzhou)[p["access_receipt"]["index"]]
        assert entry["decision"] == "deny"
        assert entry["reason"] == code
        assert entry["cross_city"]["request_hash"] == request_hash(b).hex()
    assert len(entries(net.yulin)) == yulin_before  # nothing reached the partner
