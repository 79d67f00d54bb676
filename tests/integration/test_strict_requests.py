"""Strict requests (issue 9, part of finding 11), against a real gateway over HTTP:

- query parameters on every GET route: a repeated parameter, an integer not written in its one
  canonical decimal form, or an invalid range is a 400 problem (``first=0&second=0``,
  ``first=1.0`` and a repeated ``start`` used to answer 200);
- one problem type per kind of error (``malformed-request``, ``not-found``);
- a subject identifier in a request must be in normalised form on every route that takes one
  (lower case and full-width digits used to be normalised and accepted).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gateway._lifecycle import Lifecycle
from gateway._reads import Reader
from gateway._service import Gateway
from gateway.api import create_app
from gateway.client import ReaderClient, build_subject_query, build_subject_request
from gateway.domain.canonical import canonicalize
from gateway.domain.identifiers import parse_subject_id, subject_commitment
from gateway.domain.records import hex0x
from gateway.domain.signing import typed_signer
from tests.integration.conftest import Env, _running, chain_clock

PROBLEM = "https://creditchain.example/problems/"
OPENAPI = create_app(
    cast(Gateway, None), cast(Reader, object()), cast(Lifecycle, object())
).openapi()


@pytest.fixture(scope="module")
def strict_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("strict")
    for env in _running(f"sqlite:///{tmp / 'gateway.db'}", tmp):
        market = env.client("market")
        first = env.record("market")
        second = env.record("market", fine_amount_fen=4242)
        second["subject"] = first["subject"]
        receipts = market.submit([first, second, env.record("market")])
        env.runtime.app.state.records = [r["leaf_hash"] for r in receipts]
        env.runtime.app.state.subject = first["subject"]
        yield env


def problem_of(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == PROBLEM + slug, problem
    return problem


# --- query parameters ------------------------------------------------------------------------

VALID_QUERY = {
    "/v1/logs/{log}/consistency": {"first": "1", "second": "3"},
    "/v1/logs/{log}/inclusion": {"index": "0", "size": "3"},
    "/v1/logs/{log}/leaves": {"start": "0", "end": "3"},
}
NOT_CANONICAL = ["1.0", "+1", "01", "\uff11", " 1", "1 ", "1_0", "0x1", "1e0", "-0", "", "١"]


def query_routes() -> dict[str, list[str]]:
    return {
        path: [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        for path, item in OPENAPI["paths"].items()
        for method, op in item.items()
        if method == "get" and any(p["in"] == "query" for p in op.get("parameters", []))
    }


def test_every_get_route_with_query_parameters_is_covered() -> None:
    routes = query_routes()
    assert set(routes) == set(VALID_QUERY), "a new GET route: give it a valid query here"
    for path, names in routes.items():
        assert sorted(names) == sorted(VALID_QUERY[path])


def _get(env: Env, path: str, query: list[tuple[str, str]]) -> Any:
    return env.http.get(env.url + path.replace("{log}", "records"), params=query)


@pytest.mark.parametrize("path", sorted(VALID_QUERY))
def test_query_parameters_are_strict(strict_env: Env, path: str) -> None:
    valid = VALID_QUERY[path]
    ok = _get(strict_env, path, list(valid.items()))
    assert ok.status_code == 200, ok.text[:300]
    for name, value in valid.items():
        others = [(k, v) for k, v in valid.items() if k != name]
        repeated = _get(strict_env, path, [*others, (name, value), (name, value)])
        assert "more than once" in problem_of(repeated, 400, "invalid-parameter")["detail"]
        for bad in NOT_CANONICAL:
            answer = _get(strict_env, path, [*others, (name, bad)])
            problem_of(answer, 400, "invalid-parameter")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/logs/{log}/consistency", {"first": "0", "second": "0"}),
        ("/v1/logs/{log}/consistency", {"first": "0", "second": "2"}),
        ("/v1/logs/{log}/consistency", {"first": "2", "second": "2"}),
        ("/v1/logs/{log}/consistency", {"first": "3", "second": "2"}),
        ("/v1/logs/{log}/consistency", {"first": "1", "second": "4"}),
        ("/v1/logs/{log}/inclusion", {"index": "3", "size": "3"}),
        ("/v1/logs/{log}/inclusion", {"index": "0", "size": "0"}),
        ("/v1/logs/{log}/leaves", {"start": "2", "end": "2"}),
        ("/v1/logs/{log}/leaves", {"start": "2", "end": "1"}),
        ("/v1/logs/{log}/leaves", {"start": "0", "end": "4"}),
    ],
)
def test_invalid_ranges_are_400(strict_env: Env, path: str, query: dict[str, str]) -> None:
    answer = _get(strict_env, path, list(query.items()))
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["type"] in (PROBLEM + "invalid-parameter", PROBLEM + "log-out-of-range")


@pytest.mark.parametrize("repair_id", ["01", "1.0", "+1", "\uff11"])
def test_path_integers_are_strict(strict_env: Env, repair_id: str) -> None:
    answer = strict_env.http.post(f"{strict_env.url}/v1/repairs/{repair_id}/rejection", json={})
    problem_of(answer, 400, "invalid-parameter")


# --- one problem type per kind -----------------------------------------------------------------


def test_not_found_is_one_problem_type(strict_env: Env) -> None:
    url = strict_env.url
    unknown_record = "ab" * 32
    problem_of(strict_env.http.get(f"{url}/v1/nothing/here"), 404, "not-found")
    problem_of(strict_env.http.get(f"{url}/v1/records/{unknown_record}/receipt"), 404, "not-found")
    problem_of(strict_env.http.get(f"{url}/v1/records/{unknown_record}/status"), 404, "not-found")


def test_wrong_shape_is_one_problem_type(strict_env: Env) -> None:
    url = strict_env.url
    shapes = {
        "/v1/records": {"records": "all of them"},  # a domain MalformedObject
        "/v1/reads": {"requester": 1},  # a gateway MalformedRequest
    }
    for path, body in shapes.items():
        problem_of(strict_env.http.post(url + path, json=body), 422, "malformed-request")


# --- subject identifiers on every route that takes one ------------------------------------------


def _variants(subject_id: str) -> list[str]:
    fullwidth = subject_id.replace("9", "\uff19", 1)
    return [subject_id.lower(), fullwidth, " " + subject_id, subject_id[:9] + " " + subject_id[9:]]


def _subject_key(env: Env, subject: dict[str, str]) -> LocalAccount:
    key: LocalAccount = Account.create()
    sid = parse_subject_id(subject["id"], kind=subject["kind"])  # type: ignore[arg-type]
    env.runtime.deployment.grants(env.chain).bind_subject_key(
        env.runtime.consortium["credit-office"].account(),
        subject_commitment(env.runtime.secrets.pepper, sid),
        key.address,
    )
    return key


def subject_routes(env: Env) -> dict[str, Callable[[str], tuple[str, dict[str, Any]]]]:
    """Per route, a body signed over the subject's canonical id but carrying ``variant``."""
    d = env.runtime.deployment
    subject = env.runtime.app.state.subject
    records = env.runtime.app.state.records
    key = _subject_key(env, subject)
    now = lambda: int(chain_clock(env.chain))  # noqa: E731
    common = {"chain_id": d.chain_id, "membership": d.address("Membership")}
    bank_org = env.runtime.consortium["bank"]
    bank = ReaderClient(
        env.url,
        bank_org.account(),
        bytes.fromhex(bank_org.org_id[2:]),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
        **common,
    )
    catalog = env.runtime.gateway.catalog
    auditor = env.runtime.consortium["auditor"]
    audit_sign = typed_signer(auditor.account(), env.runtime.gateway.domain)

    def carrying(body: dict[str, Any], variant: str) -> dict[str, Any]:
        body["subject"] = {"kind": subject["kind"], "id": variant}
        return body

    def read(variant: str) -> tuple[str, dict[str, Any]]:
        body = bank.build(
            subject=subject,
            purpose="loan_approval",
            categories=["admin_penalty"],
            category_mask=catalog.category_mask(["admin_penalty"]),
        )
        return "/v1/reads", carrying(body, variant)

    def query(path: str) -> Callable[[str], tuple[str, dict[str, Any]]]:
        def build(variant: str) -> tuple[str, dict[str, Any]]:
            body = build_subject_query(
                key,
                subject=subject,
                action=path.rsplit("/", 1)[-1],  # accesses | records
                signed_at=now(),
                nonce=os.urandom(32),
                salt=os.urandom(32),
                **common,
            )
            return path, carrying(body, variant)

        return build

    def request(action: str, record: str, details: dict[str, Any]) -> Callable[[str], Any]:
        def build(variant: str) -> tuple[str, dict[str, Any]]:
            body = build_subject_request(
                key,
                subject=subject,
                record_id=record,
                action=action,
                details=details,
                signed_at=now(),
                nonce=os.urandom(32),
                salt=os.urandom(32),
                **common,
            )
            path = "objections" if action == "objection" else "repairs"
            return f"/v1/records/{record}/{path}", carrying(body, variant)

        return build

    def audit(variant: str) -> tuple[str, dict[str, Any]]:
        q = {"subject": {"kind": subject["kind"], "id": variant}}
        nonce, signed_at = os.urandom(32), now()
        message = {
            "auditor": bytes.fromhex(auditor.org_id[2:]),
            "queryHash": hashlib.sha256(canonicalize(q)).digest(),
            "signedAt": signed_at,
            "nonce": nonce,
        }
        return "/v1/audit/trace", {
            "auditor": auditor.org_id,
            "query": q,
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "signature": hex0x(audit_sign("AuditQuery", message)),
        }

    def submission(variant: str) -> tuple[str, dict[str, Any]]:
        record = env.record("market")
        record["subject"] = {"kind": subject["kind"], "id": variant}
        return "/v1/records", env.client("market").build([record])

    return {
        "/v1/records": submission,
        "/v1/reads": read,
        "/v1/subjects/accesses": query("/v1/subjects/accesses"),
        "/v1/subjects/records": query("/v1/subjects/records"),
        "/v1/records/{record_id}/objections": request(
            "objection", records[0], {"reason": "not mine", "evidence_hash": "00" * 32}
        ),
        "/v1/records/{record_id}/repairs": request("repair", records[1], {"reason": "paid"}),
        "/v1/audit/trace": audit,
    }


def test_subject_ids_must_arrive_normalised_on_every_route(strict_env: Env) -> None:
    routes = subject_routes(strict_env)
    takes_subject = {
        path
        for path, item in OPENAPI["paths"].items()
        for op in item.values()
        if "subject" in str(op.get("requestBody", {}))
    }
    assert takes_subject <= set(routes), "a new route takes a subject: add it here"
    canonical = strict_env.runtime.app.state.subject["id"]
    for path, build in routes.items():
        for variant in _variants(canonical):
            where, body = build(variant)
            answer = strict_env.http.post(strict_env.url + where, json=body)
            problem = problem_of(answer, 422, "invalid-identifier")
            assert "normalised form" in problem["detail"], (path, problem)
            assert canonical not in problem["detail"]  # personal data is not echoed
