"""``POST /v1/reads`` is served ahead of the framework (gateway.api._app.FastReads): the same
answers as the framework's route, every refusal the same problem, and the framework's route
not involved."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api import create_app
from gateway.api._app import FastReads
from node import GrantBasis
from tests.integration.conftest import Env
from tests.integration.test_reads import make_grant, org_id, reader

DAY = 86_400


def _framework_only(env: Env) -> FastAPI:
    """The same app with the fast path left out: every read through FastAPI's route."""
    rt = env.runtime
    app = create_app(rt.gateway, rt.reader, rt.lifecycle, max_body_bytes=4096)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastReads]
    return app


def _fast(env: Env) -> FastAPI:
    rt = env.runtime
    return create_app(rt.gateway, rt.reader, rt.lifecycle, max_body_bytes=4096)


def _answer(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = response.json()
    body.pop("access_receipt", None)
    return response.status_code, response.headers["content-type"], body


def _requests(env: Env) -> list[tuple[str, dict[str, str], bytes]]:
    """(query string, headers, body) of requests the gateway refuses, one per kind of refusal,
    and of the problem each must be."""
    valid = reader(env, "bank").build(
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        category_mask=env.runtime.gateway.catalog.category_mask(["tax_credit_rating"]),
        subject={"kind": "uscc", "id": env.record("tax")["subject"]["id"]},
    )
    stale = {**valid, "signed_at": valid["signed_at"] - 10 * DAY}
    plain = {"content-type": "application/json"}
    return [
        ("", {"content-type": "text/plain"}, json.dumps(valid).encode()),  # 415
        ("", {}, json.dumps(valid).encode()),  # no content type: 415
        ("", {"content-type": "application/json; charset=latin-1"}, b"{}"),  # 415
        ("a=1&a=2", plain, json.dumps(valid).encode()),  # 400 duplicate parameter
        ("", plain, b"{not json"),  # 400
        ("", plain, b"[]"),  # 422
        ("", plain, json.dumps({"requester": 1}).encode()),  # 422
        ("", plain, json.dumps({**valid, "extra": 1}).encode()),  # 422
        ("", plain, json.dumps(stale).encode()),  # 401 stale
        ("", plain, json.dumps({**valid, "signature": "0x" + "11" * 65}).encode()),  # 401
        ("", plain, b" " * 5000),  # 413 (over the 4096-byte limit)
    ]


def test_refusals_are_the_frameworks_problems(sqlite_env: Env) -> None:
    env = sqlite_env
    fast, slow = TestClient(_fast(env)), TestClient(_framework_only(env))
    for query, headers, body in _requests(env):
        url = "/v1/reads" + (f"?{query}" if query else "")
        a = fast.post(url, content=body, headers=headers)
        b = slow.post(url, content=body, headers=headers)
        assert a.status_code >= 400, (query, headers, body[:40])
        assert _answer(a) == _answer(b), (query, headers, body[:40])


def test_reads_and_replays_answer_as_the_framework_does(sqlite_env: Env) -> None:
    env = sqlite_env
    submitted = env.client("tax").submit([env.record("tax")])
    assert submitted
    now = int(env.chain.w3.eth.get_block("latest")["timestamp"])
    grant = make_grant(
        env,
        subject=b"\x00" * 32,
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + DAY,
        basis=GrantBasis.STATUTORY,
    )
    env.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    fast, slow = TestClient(_fast(env)), TestClient(_framework_only(env))
    rc = reader(env, "bank")
    mask = env.runtime.gateway.catalog.category_mask(["tax_credit_rating"])
    answers = []
    for client in (fast, slow):
        body = rc.build(
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            category_mask=mask,
            record_id=submitted[0]["leaf_hash"],
            grant_id=grant,
        )
        first = client.post("/v1/reads", json=body)
        again = client.post("/v1/reads", json=body)  # the same nonce: a replay
        status, media, problem = _answer(again)
        problem["detail"] = problem["detail"].replace(body["nonce"], "<nonce>")
        answers.append((_answer(first), (status, media, problem)))
        assert first.status_code == 200, first.text
        assert first.json()["access_receipt"]["index"] >= 0
        assert again.status_code == 409
    assert answers[0] == answers[1]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_methods_pass_to_the_framework(sqlite_env: Env, method: str) -> None:
    response = TestClient(_fast(sqlite_env)).request(method, "/v1/reads")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
