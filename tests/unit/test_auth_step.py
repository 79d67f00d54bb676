"""The one authentication step (gateway/_auth.py): its order and what each step refuses, with
real signatures (coincurve) over the declared types and a gateway stand-in that records the
calls (the routes' integration tests run it against the real gateway)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

import gateway._auth as auth
from gateway._service import OrgInfo
from gateway.domain.errors import BadSignature
from gateway.domain.requests import LogRequest, OfficeRequest
from gateway.domain.signing import fast_typed_signer, signing_domain
from gateway.errors import Forbidden, SignerMismatch, StaleRequest

DOMAIN = signing_domain(31337, "0x" + "42" * 20)
KEY = Account.from_key(b"\x05" * 32)
ORG = b"\x11" * 32


class FakeGateway:
    def __init__(self, signer: str, window_ok: bool = True) -> None:
        self.domain = DOMAIN
        self.calls: list[str] = []
        self.signer = signer
        self.window_ok = window_ok

    def _check_window(self, signed_at: int) -> int:
        self.calls.append("window")
        if not self.window_ok:
            raise StaleRequest("stale")
        return 1234

    def _check_signer(self, org: bytes, signer: str, signed_at: int) -> OrgInfo:
        self.calls.append("signer")
        if signer != self.signer:
            raise SignerMismatch("not the org's key")
        return OrgInfo(org, "department", True, signer, 0)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(auth, "claim_nonce", lambda *a: seen.append(a))
    return seen


def _log_values(**over: Any) -> dict[str, Any]:
    unsigned = {"org": ORG, "start": 0, "end": 3, "signed_at": 1000, "nonce": b"\x09" * 32}
    body = LogRequest.build(fast_typed_signer(KEY, DOMAIN), unsigned, action="entries/access")
    return {**LogRequest.parse(body), **over}


def _run(gw: FakeGateway, values: dict[str, Any], **kw: Any) -> auth.Authenticated:
    return auth.authenticate(
        gw,  # type: ignore[arg-type]
        LogRequest,
        values,
        b"{}",
        org_member="org",
        bound={"action": kw.pop("action", "entries/access")},
        **kw,
    )


def test_a_good_request_passes_every_step_in_order(claims: list[tuple[Any, ...]]) -> None:
    gw = FakeGateway(KEY.address)
    seen: list[str] = []
    result = _run(gw, _log_values(), authorize=lambda org: seen.append(org.kind))
    assert result.signer == KEY.address
    assert result.now == 1234
    assert gw.calls == ["window", "signer"]
    assert seen == ["department"]
    assert claims == [(gw, "0x" + ORG.hex(), b"\x09" * 32, b"{}", 1234)]


def test_a_stale_request_is_refused_before_its_signature_is_looked_at(
    claims: list[tuple[Any, ...]],
) -> None:
    gw = FakeGateway(KEY.address, window_ok=False)
    with pytest.raises(StaleRequest):
        _run(gw, _log_values(signature=b"\x00" * 65))  # would be BadSignature
    assert gw.calls == ["window"]
    assert claims == []


def test_the_action_is_bound_the_signature_names_one_route(
    claims: list[tuple[Any, ...]],
) -> None:
    gw = FakeGateway(KEY.address)
    with pytest.raises(SignerMismatch):
        _run(gw, _log_values(), action="index/access")
    assert claims == []


def test_a_high_s_twin_is_refused(claims: list[tuple[Any, ...]]) -> None:
    from gateway.domain.signing import SECP256K1_N

    values = _log_values()
    sig = values["signature"]
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - sig[64],))
    with pytest.raises(BadSignature):
        _run(FakeGateway(KEY.address), {**values, "signature": twin})
    assert claims == []


def test_a_refusal_by_the_route_spends_no_nonce(claims: list[tuple[Any, ...]]) -> None:
    def credit_office_only(org: OrgInfo) -> None:
        raise Forbidden("only a credit office", reason="credit-office-required")

    with pytest.raises(Forbidden):
        _run(FakeGateway(KEY.address), _log_values(), authorize=credit_office_only)
    assert claims == []


def test_a_subject_request_leaves_signer_and_nonce_to_the_route() -> None:
    gw = FakeGateway(KEY.address)
    values = OfficeRequest.parse(
        OfficeRequest.build(
            fast_typed_signer(KEY, DOMAIN),
            {"org": ORG, "details": {}, "signed_at": 5, "nonce": b"\x01" * 32},
            action="list-objections",
            target=b"\x00" * 32,
        )
    )
    bound = {"action": "list-objections", "target": b"\x00" * 32}
    got = auth.authenticate(
        gw,  # type: ignore[arg-type]
        OfficeRequest,
        values,
        b"{}",
        org_member=None,
        bound=bound,
        claim=False,
    )
    assert got.signer == KEY.address
    assert got.org is None
    assert gw.calls == ["window"]
    with pytest.raises(ValueError, match="claims its nonce itself"):
        auth.authenticate(gw, OfficeRequest, values, b"{}", org_member=None, bound=bound)  # type: ignore[arg-type]
