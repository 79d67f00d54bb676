"""Hostile request bodies on every JSON route (issue 9, finding 1 and part of 11).

The routes come from the app's own OpenAPI document, so a new JSON route is covered without
editing this file. Against a real gateway (embedded chain, SQLite, uvicorn on a loopback port,
real HTTP):

- nesting 100,000 deep (arrays, objects, both, never closed) is a 400 ``invalid-json`` problem
  on every route — it used to overrun the thread's stack and kill the process with SIGSEGV;
- a body under any media type but ``application/json`` (optionally ``; charset=utf-8``) is a
  415 ``unsupported-media-type`` problem;
- a Hypothesis fuzz of body shapes (deep nesting up to 200,000 levels, huge strings and
  numbers, wrong top-level types, duplicate keys, invalid UTF-8, NaN/Infinity, empty bodies,
  other media types) gets no 5xx, only RFC 9457 problems, and the gateway keeps answering.

``CREDITCHAIN_HOSTILE_EXAMPLES`` (default 300) sets the fuzz's examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway._federation import Federation
from gateway._lifecycle import Lifecycle
from gateway._reads import Reader
from gateway._service import Gateway
from gateway.api import create_app
from tests.integration.conftest import Env, _running

PROBLEM = "https://creditchain.example/problems/"
EXAMPLES = int(os.environ.get("CREDITCHAIN_HOSTILE_EXAMPLES", "300"))


def json_routes(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (METHOD, path) whose request body is JSON, from an OpenAPI document."""
    return sorted(
        (method.upper(), path)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    )


# The document depends only on the routes: an app with every router and no gateway behind it.
ROUTES = json_routes(
    create_app(
        cast(Gateway, None),
        cast(Reader, object()),
        cast(Lifecycle, object()),
        federation=cast(Federation, object()),
    ).openapi()
)
IDS = [f"{m} {p}" for m, p in ROUTES]


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    for env in _running(f"sqlite:///{tmp / 'gateway.db'}", tmp):
        assert json_routes(env.runtime.app.openapi()) == ROUTES
        (receipt,) = env.client("market").submit([env.record("market")])
        env.runtime.app.state.known_record = receipt["leaf_hash"]
        yield env


def url(env: Env, path: str) -> str:
    """``path`` with its parameters filled in: a record that exists, repair application 1, the
    access log."""
    record = env.runtime.app.state.known_record
    filled = path.replace("{record_id}", record).replace("{repair_id}", "1")
    return env.url + filled.replace("{log}", "access")


def post(env: Env, path: str, body: bytes, content_type: str | None = "application/json") -> Any:
    headers = {} if content_type is None else {"content-type": content_type}
    return env.http.post(url(env, path), content=body, headers=headers, timeout=60)


def assert_problem(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/problem+json", answer.text[:300]
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == answer.status_code
    assert problem["type"].startswith(PROBLEM)
    return problem


def assert_alive(env: Env) -> None:
    assert env.http.get(env.url + "/v1/health").status_code == 200


def test_the_json_routes_are_all_found() -> None:
    found = {p for _, p in ROUTES}
    assert {"/v1/records", "/v1/verify", "/v1/reads", "/v1/audit/trace"} <= found
    assert {"/v1/records/{record_id}/status", "/v1/repairs/{repair_id}/rejection"} <= found
    assert len(ROUTES) >= 13


DEEP = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 100_000 + b"0" + b"}" * 100_000,
    "mixed": b'[{"a":' * 50_000 + b"0" + b"}]" * 50_000,
    "unclosed": b"[" * 100_000,
    "in a real member": b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_deep_nesting_is_a_400_on_every_json_route(
    hostile_env: Env, route: tuple[str, str]
) -> None:
    for name, body in DEEP.items():
        answer = post(hostile_env, route[1], body)
        assert answer.status_code == 400, (name, answer.text[:300])
        problem = assert_problem(answer)
        assert problem["type"] == PROBLEM + "invalid-json"
        assert "nested deeper than 128" in problem["detail"]
    assert_alive(hostile_env)


WRONG_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonl",
    "application/json-patch+json",
    "application/problem+json",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=utf-8; q=1",
    "application/json, text/plain",
    "",
]


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_body_that_is_not_application_json_is_a_415(
    hostile_env: Env, route: tuple[str, str]
) -> None:
    for content_type in WRONG_TYPES:
        answer = post(hostile_env, route[1], b"{}", content_type)
        assert answer.status_code == 415, (content_type, answer.text[:300])
        assert assert_problem(answer)["type"] == PROBLEM + "unsupported-media-type"
    for content_type in ("application/json", "Application/JSON", "application/json; charset=UTF-8"):
        answer = post(hostile_env, route[1], b"{}", content_type)
        assert 400 <= answer.status_code < 500, (content_type, answer.text[:300])
        assert answer.status_code != 415, content_type


def test_json_content_type_may_not_be_sent_twice(hostile_env: Env) -> None:
    answer = hostile_env.http.post(
        hostile_env.url + "/v1/records",
        content=b"{}",
        headers=[("content-type", "application/json"), ("content-type", "text/plain")],
    )
    assert answer.status_code == 415


# --- the fuzz ------------------------------------------------------------------------------


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(
        st.sampled_from([127, 128, 129, 1_000, 12_288, 100_000, 200_000]) | st.integers(1, 200_000)
    )
    opener, closer = draw(
        st.sampled_from([(b"[", b"]"), (b'{"k":', b"}"), (b'[{"k":', b"}]"), (b'{"":[', b"]}")])
    )
    inner = draw(st.sampled_from([b"0", b'"x"', b"[]", b"{}", b"null", b""]))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    n = draw(st.sampled_from([5_000, 100_000, 1_000_000, 1_500_000]) | st.integers(1, 1_500_000))
    member = draw(st.sampled_from(["records", "signature", "subject", "query", "x"]))
    kind = draw(st.sampled_from(["string", "digits", "exponent", "fraction", "array"]))
    value = {
        "string": b'"' + b"a" * n + b'"',
        "digits": b"9" * min(n, 100_000),
        "exponent": b"1e" + b"9" * min(n, 10_000),
        "fraction": b"0." + b"0" * min(n, 100_000) + b"1",
        "array": b"[" + b"0," * min(n, 500_000) + b"0]",
    }[kind]
    return b'{"' + member.encode() + b'":' + value + b"}"


top_level = json_values.map(lambda v: json.dumps(v).encode())
duplicates = st.sampled_from(
    [
        b'{"records": [], "records": []}',
        b'{"a": 1, "a": 1}',
        b'{"signature": {"org": "0x00", "org": "0x01"}}',
        b'[{"x": {"y": 1, "y": 2}}]',
    ]
)
not_utf8 = st.binary(max_size=200) | st.sampled_from(
    [
        b'"\xff"',
        b'{"a": "\xc0\xaf"}',
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\xef\xbb\xbf{}",  # a byte order mark
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-32"),
    ]
)
non_finite = st.sampled_from(
    [b"NaN", b"[Infinity]", b'{"x": -Infinity}', b'{"records": [NaN]}', b"1e400", b"-1e999"]
)
BODIES = (
    deep()
    | huge()
    | top_level
    | duplicates
    | not_utf8
    | non_finite
    | st.just(b"")
    | st.sampled_from([b" ", b"{", b"}", b"[", b"\x00", b'"', b"\\"])
)
CONTENT_TYPES = st.sampled_from(["application/json"] * 6 + WRONG_TYPES[:6])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(route=st.sampled_from(ROUTES), body=BODIES, content_type=CONTENT_TYPES | st.none())
def test_hostile_bodies_get_4xx_problems_never_5xx(
    hostile_env: Env, route: tuple[str, str], body: bytes, content_type: str | None
) -> None:
    answer = post(hostile_env, route[1], body, content_type)
    assert 400 <= answer.status_code < 500, (route, body[:200], answer.text[:300])
    assert_problem(answer)
    assert_alive(hostile_env)
