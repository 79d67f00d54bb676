"""The department client SDK against a mock gateway (httpx.MockTransport)."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import httpx
import pytest

from gateway.client import ClientError, DepartmentClient, build_submission
from gateway.domain.catalog import load_catalog
from gateway.domain.records import org_id_for, parse_submission
from gateway.domain.signing import signing_domain, typed_signer
from tests.bundle_factory import DEPT_USCC, MEMBERSHIP, account_for, sample_record

ORG = org_id_for(DEPT_USCC)
DEPT = account_for("department")
DOMAIN = signing_domain(31337, MEMBERSHIP)
T = 1_795_660_000


def counting_rng() -> Any:
    counter = itertools.count()
    return lambda n: hashlib.sha256(b"%d" % next(counter)).digest()[:n]


class Gateway:
    """Records requests; answers with canned responses."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def client(gateway: Gateway) -> DepartmentClient:
    return DepartmentClient(
        "https://gw.example/",
        DEPT,
        ORG,
        chain_id=31337,
        membership=MEMBERSHIP,
        http=httpx.Client(transport=httpx.MockTransport(gateway)),
        clock=lambda: T + 0.9,
        rng=counting_rng(),
    )


def _receipts(n: int) -> httpx.Response:
    return httpx.Response(201, json={"receipts": [{"index": i} for i in range(n)]})


@pytest.mark.parametrize("n", [1, 3])
def test_submit_posts_exactly_the_built_body(n: int) -> None:
    gateway = Gateway(_receipts(n))
    records = [sample_record(ORG, i) for i in range(n)]
    receipts = client(gateway).submit(records)
    assert receipts == [{"index": i} for i in range(n)]
    (request,) = gateway.requests
    assert request.method == "POST"
    assert str(request.url) == "https://gw.example/v1/records"
    body = json.loads(request.content)
    # the same rng sequence through the pure function gives the same body
    rng = counting_rng()
    salts = [rng(32) for _ in records]
    assert body == build_submission(
        records, salts, org_id=ORG, signed_at=T, nonce=rng(32), sign=typed_signer(DEPT, DOMAIN)
    )
    sub = parse_submission(body, load_catalog())
    assert sub.signer(DOMAIN) == DEPT.address
    assert sub.signed_at == T
    assert len(sub.records) == n
    assert len({r.salt for r in sub.records}) == n  # a fresh salt per record


def test_problem_json_becomes_client_error() -> None:
    problem = {
        "type": "https://creditchain.example/problems/bad-signature",
        "title": "Bad signature",
        "status": 401,
        "detail": "recovers to 0x…",
    }
    gateway = Gateway(
        httpx.Response(401, json=problem, headers={"content-type": "application/problem+json"})
    )
    with pytest.raises(ClientError) as info:
        client(gateway).submit([sample_record(ORG)])
    assert info.value.status == 401
    assert info.value.problem == problem
    assert info.value.type.endswith("/bad-signature")
    assert "Bad signature" in str(info.value)


def test_non_problem_errors_are_synthesised() -> None:
    gateway = Gateway(httpx.Response(502, text="upstream down"))
    with pytest.raises(ClientError) as info:
        client(gateway).submit([sample_record(ORG)])
    assert info.value.status == 502
    assert info.value.type == "about:blank"
    assert info.value.problem["detail"] == "upstream down"


def test_wrong_number_of_receipts_is_an_error() -> None:
    with pytest.raises(ClientError, match="2 receipts"):
        client(Gateway(_receipts(1))).submit([sample_record(ORG, 0), sample_record(ORG, 1)])


def test_proof_returns_bundle_or_pending() -> None:
    rid = "ab" * 32
    gateway = Gateway(
        httpx.Response(200, json={"v": 1}),
        httpx.Response(202, json={"status": "pending", "receipt": {}}),
        httpx.Response(
            404, json={"title": "Not found"}, headers={"content-type": "application/problem+json"}
        ),
    )
    c = client(gateway)
    assert c.proof(rid) == {"v": 1}
    assert c.proof(rid)["status"] == "pending"
    with pytest.raises(ClientError) as info:
        c.proof(rid)
    assert info.value.status == 404
    assert str(gateway.requests[0].url) == f"https://gw.example/v1/records/{rid}/proof"
    with pytest.raises(ValueError, match="hex"):
        c.proof("../admin")


def test_build_submission_validates_inputs() -> None:
    sign = typed_signer(DEPT, DOMAIN)
    record = sample_record(ORG)
    with pytest.raises(ValueError, match="nothing"):
        build_submission([], [], org_id=ORG, signed_at=T, nonce=bytes(32), sign=sign)
    with pytest.raises(ValueError, match="salts"):
        build_submission([record], [], org_id=ORG, signed_at=T, nonce=bytes(32), sign=sign)
    with pytest.raises(ValueError, match="names org"):
        build_submission(
            [record], [bytes(32)], org_id=bytes(32), signed_at=T, nonce=bytes(32), sign=sign
        )
    with pytest.raises(ValueError, match="nonce"):
        build_submission([record], [bytes(32)], org_id=ORG, signed_at=T, nonce=b"", sign=sign)
    with pytest.raises(ValueError, match="salt"):
        build_submission([record], [b"short"], org_id=ORG, signed_at=T, nonce=bytes(32), sign=sign)
