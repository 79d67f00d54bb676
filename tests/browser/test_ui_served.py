"""The gateway serves the built UI at / (gateway/ui): strict security headers, the assets of
the committed build, its own manifest offered as a labelled default, and no /v1 route changed."""

from __future__ import annotations

import re

import pytest

from gateway.ui import CONTENT_SECURITY_POLICY, STATIC_DIR, offer
from tests.integration.conftest import Env, sqlite_env  # noqa: F401 - the running gateway


def test_the_pages_are_served_with_a_strict_content_security_policy(
    sqlite_env: Env,  # noqa: F811
) -> None:
    page = sqlite_env.http.get(sqlite_env.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline scripts, no eval
    assert directives["frame-ancestors"] == "'none'"
    assert "http:" in directives["connect-src"]  # the chain endpoint is the user's choice
    assert page.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page.text)
    assert len(assets) == 2
    for asset in assets:
        got = sqlite_env.http.get(sqlite_env.url + "/" + asset)
        assert got.status_code == 200
        assert got.content == (STATIC_DIR / asset).read_bytes()
        assert got.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<script>" not in page.text  # nothing inline for the CSP to allow


def test_the_gateway_offers_its_manifest_and_leaves_v1_alone(sqlite_env: Env) -> None:  # noqa: F811
    gateway = sqlite_env.runtime.gateway
    got = sqlite_env.http.get(sqlite_env.url + "/ui/offer.json")
    assert got.status_code == 200
    assert got.headers["cache-control"] == "no-store"
    doc = got.json()
    assert doc["manifest"] == gateway.deployment.to_json()
    assert doc["gateway"] == "0x" + gateway.gateway_org.hex()
    assert doc["rpc"] is None  # an in-process chain has no URL to offer
    # unknown paths, /v1 ones included, still answer the API's problem documents
    for path in ("/v1/nowhere", "/nowhere", "/assets/nothing.js", "/ui/nothing.json"):
        missing = sqlite_env.http.get(sqlite_env.url + path)
        assert missing.status_code == 404, path
        if path.startswith("/v1"):
            assert missing.headers["content-type"] == "application/problem+json"
    assert sqlite_env.http.get(sqlite_env.url + "/v1/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("url", "offered"),
    [
        ("http://127.0.0.1:8545", True),
        ("http://localhost:8545", True),
        ("http://[::1]:8545", True),
        ("https://node.example:8545", False),
        ("https://mainnet.example/v3/SECRETKEY", False),
        ("http://user:pass@127.0.0.1:8545", False),
        ("http://127.0.0.1:8545/?key=1", False),
        (None, False),
    ],
)
def test_only_a_loopback_chain_url_without_credentials_is_offered(
    url: str | None, offered: bool
) -> None:
    doc = offer(gateway=b"\x01" * 32, chain_id=1, rpc_url=url, manifest={})
    assert doc["rpc"] == (url if offered else None)


def test_only_the_public_reads_answer_other_origins(sqlite_env: Env) -> None:  # noqa: F811
    """Another city's operator page reads this gateway's health and log checkpoints from its
    own origin: those GETs carry ``Access-Control-Allow-Origin: *``; no other route does, and
    no credentials or other methods are allowed."""
    other = {"origin": "http://elsewhere.example"}
    for path in ("/v1/health", "/v1/logs/records/checkpoint", "/v1/logs/access/checkpoint"):
        got = sqlite_env.http.get(sqlite_env.url + path, headers=other)
        assert got.status_code == 200, path
        assert got.headers["access-control-allow-origin"] == "*", path
        assert "access-control-allow-credentials" not in got.headers
    for path in (
        "/",
        "/ui/offer.json",
        "/v1/logs/records/consistency?first=1&second=2",
        "/v1/logs/records/inclusion?index=0&size=1",
        "/v1/nowhere",
    ):
        got = sqlite_env.http.get(sqlite_env.url + path, headers=other)
        assert "access-control-allow-origin" not in got.headers, path
    posted = sqlite_env.http.post(sqlite_env.url + "/v1/health", headers=other)
    assert "access-control-allow-origin" not in posted.headers
    preflight = sqlite_env.http.options(
        sqlite_env.url + "/v1/health",
        headers={**other, "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
