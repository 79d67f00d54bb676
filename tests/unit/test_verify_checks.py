"""Bundle verification (formats.md §7-§8) against a fake chain: each check, the trust root,
and the tamper matrix — every single-field change to a valid bundle is caught by the
right check."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.domain.identifiers import SubjectId, subject_commitment
from gateway.verify import (
    DEFAULT_CHECKS,
    Anchor,
    BundleMalformed,
    ChainQueryFailed,
    ChainView,
    InclusionCheck,
    RecordLifecycle,
    TrustRoot,
    VerificationError,
    VerifyError,
    parse_bundle,
    verify_bundle,
)
from tests.bundle_factory import NOW, BundleFactory, FakeChainView, account_for

FACTORY = BundleFactory()
TRUSTED = FACTORY.trusted
ORDER = [c.name for c in DEFAULT_CHECKS]

Path = tuple[str | int, ...]


def failing_check(bundle: object, view: ChainView, **kwargs: Any) -> str:
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, view, trusted=TRUSTED, **kwargs)
    return info.value.check


# ---------------------------------------------------------------------------------------
# Valid bundles


@pytest.mark.parametrize(
    "draft",
    [
        {},
        {"batch": 5, "position": 2},
        {"batch": 2, "position": 1, "log_size": 1, "leaf_index": 0},
        {"log_size": 16, "leaf_index": 15},
        {"log_size": 1000, "leaf_index": 0},
    ],
    ids=["single", "batch", "batch-of-2-in-a-log-of-1", "last-of-16", "first-of-1000"],
)
def test_valid_bundles_pass_every_check_in_order(draft: dict[str, Any]) -> None:
    bundle, view = FACTORY.scenario(**draft)
    result = verify_bundle(bundle, view, trusted=TRUSTED)
    assert (
        list(result.checks)
        == ORDER
        == [
            "trust-root",
            "record-commitment",
            "department-signature",
            "leaf-hash",
            "inclusion",
            "checkpoint-on-chain",
            "receipt-signature",
            "status",
        ]
    )
    assert result.status == "active"
    assert result.department_signer == FACTORY.department.address
    assert result.gateway_signer == FACTORY.gateway.address
    assert result.record_id == bundle["status"]["record_id"] == bundle["receipt"]["leaf_hash"]
    assert not result.subject_checked
    assert result.to_json()["valid"] is True


def test_a_commitment_only_bundle_verifies_everything_but_the_opening() -> None:
    bundle, view = FACTORY.scenario()
    del bundle["record"], bundle["salt"]
    result = verify_bundle(bundle, view, trusted=TRUSTED, pepper=FACTORY.pepper)
    assert result.skipped == ("record-commitment",)
    assert list(result.checks) == [c for c in ORDER if c != "record-commitment"]
    assert not result.record_included
    assert not result.subject_checked
    assert result.to_json()["record_included"] is False
    for key in ("v", "leaf", "receipt", "log", "chain", "status"):  # the rest still binds
        for path, value in walk(bundle[key], (key,)):
            assert failing_check(put(bundle, path, altered(value)), view) != "", path


def test_record_and_salt_go_together() -> None:
    bundle, view = FACTORY.scenario()
    for key in ("record", "salt"):
        partial = copy.deepcopy(bundle)
        del partial[key]
        with pytest.raises(BundleMalformed, match="go together"):
            verify_bundle(partial, view, trusted=TRUSTED)


def test_with_the_pepper_the_subject_commitment_is_checked() -> None:
    bundle, view = FACTORY.scenario()
    assert verify_bundle(bundle, view, trusted=TRUSTED, pepper=FACTORY.pepper).subject_checked
    assert failing_check(bundle, view, pepper=hashlib.sha256(b"other").digest()) == (
        "record-commitment"
    )


def test_the_leaf_holds_an_unlinkable_subject_tag_not_the_commitment() -> None:
    bundle, _ = FACTORY.scenario()
    subject = SubjectId("uscc", bundle["record"]["subject"]["id"])
    assert bundle["leaf"]["v"] == 2
    assert subject_commitment(FACTORY.pepper, subject).hex() not in json.dumps(bundle["leaf"])


def test_version_1_leaves_still_verify_with_and_without_the_pepper() -> None:
    old = BundleFactory(leaf_version=1)
    bundle, view = old.scenario()
    assert bundle["leaf"]["v"] == 1
    assert verify_bundle(bundle, view, trusted=TRUSTED, pepper=old.pepper).subject_checked
    assert not verify_bundle(bundle, view, trusted=TRUSTED).subject_checked
    assert failing_check(bundle, view, pepper=hashlib.sha256(b"other").digest()) == (
        "record-commitment"
    )


def test_status_comes_from_the_chain() -> None:
    bundle, view = FACTORY.scenario()
    rid = bytes.fromhex(bundle["status"]["record_id"])
    view.set_status(rid, "withdrawn", origin=FACTORY.dept_org)
    assert verify_bundle(bundle, view, trusted=TRUSTED).status == "withdrawn"
    view.statuses[rid] = RecordLifecycle(status="deleted-by-magic")
    assert failing_check(bundle, view) == "status"


# ---------------------------------------------------------------------------------------
# Lifecycle status (formats.md §8, check 7)

SUCCESSOR = hashlib.sha256(b"the corrected version").digest()
CREDIT_OFFICE = hashlib.sha256(b"credit office").digest()
CHANGED_AT = 1_795_670_000


def _record_id(bundle: dict[str, Any]) -> bytes:
    return bytes.fromhex(bundle["status"]["record_id"])


def test_a_record_never_transitioned_is_active_with_nothing_more() -> None:
    bundle, view = FACTORY.scenario()
    result = verify_bundle(bundle, view, trusted=TRUSTED)
    assert (result.status, result.successor) == ("active", None)
    assert (result.status_updated_at, result.status_actor) == (None, None)
    doc = result.to_json()
    assert doc["status"] == "active"
    assert doc["successor"] is None  # always present, null unless corrected
    assert doc["status_updated_at"] is None
    assert doc["status_actor"] is None


@pytest.mark.parametrize("status", ["objected", "corrected", "repaired", "withdrawn", "erased"])
def test_every_status_is_reported_and_the_bundle_still_verifies(status: str) -> None:
    bundle, view = FACTORY.scenario()
    actor = CREDIT_OFFICE if status == "repaired" else FACTORY.dept_org
    view.set_status(
        _record_id(bundle),
        status,
        origin=FACTORY.dept_org,
        actor=actor,
        successor=SUCCESSOR if status == "corrected" else None,
        updated_at=CHANGED_AT,
    )
    result = verify_bundle(bundle, view, trusted=TRUSTED)
    assert list(result.checks) == ORDER  # valid: every check passed, "status" included
    assert result.status == status
    assert result.successor == (SUCCESSOR.hex() if status == "corrected" else None)
    assert result.status_updated_at == CHANGED_AT
    assert result.status_actor == "0x" + actor.hex()
    doc = result.to_json()
    assert doc["valid"] is True
    assert (doc["status"], doc["successor"]) == (status, result.successor)
    assert (doc["status_updated_at"], doc["status_actor"]) == (CHANGED_AT, "0x" + actor.hex())


def test_a_corrected_record_names_its_successor_in_every_bundle_form() -> None:
    bundle, view = FACTORY.scenario(batch=3, position=1)
    view.set_status(_record_id(bundle), "corrected", origin=FACTORY.dept_org, successor=SUCCESSOR)
    commitment_only = {k: v for k, v in bundle.items() if k not in ("record", "salt")}
    for b in (bundle, commitment_only):
        result = verify_bundle(b, view, trusted=TRUSTED, pepper=FACTORY.pepper)
        assert result.status == "corrected"
        assert result.successor == SUCCESSOR.hex()
        assert result.record_id != result.successor


def test_the_successor_is_reported_only_while_the_record_is_corrected() -> None:
    """The contract keeps the successor when a corrected record is erased; the verifier
    reports the current status, erased, with no successor."""
    bundle, view = FACTORY.scenario()
    rid = _record_id(bundle)
    view.set_status(rid, "corrected", origin=FACTORY.dept_org, successor=SUCCESSOR)
    view.set_status(rid, "erased", origin=FACTORY.dept_org, updated_at=CHANGED_AT + 60)
    assert view.statuses[rid].successor == SUCCESSOR
    result = verify_bundle(bundle, view, trusted=TRUSTED)
    assert (result.status, result.successor) == ("erased", None)
    assert result.status_updated_at == CHANGED_AT + 60


def test_an_objection_rejected_is_active_again_with_its_transition_reported() -> None:
    bundle, view = FACTORY.scenario()
    rid = _record_id(bundle)
    view.set_status(rid, "objected", origin=FACTORY.dept_org)
    view.set_status(rid, "active", origin=FACTORY.dept_org, actor=CREDIT_OFFICE)
    result = verify_bundle(bundle, view, trusted=TRUSTED)
    assert (result.status, result.successor) == ("active", None)
    assert result.status_actor == "0x" + CREDIT_OFFICE.hex()
    assert result.status_updated_at is not None


@pytest.mark.parametrize("status", ["active", "objected", "corrected", "erased"])
def test_a_status_pinned_to_another_origin_fails_the_status_check(status: str) -> None:
    bundle, view = FACTORY.scenario()
    other = hashlib.sha256(b"another department").digest()
    view.set_status(
        _record_id(bundle),
        status,
        origin=other,
        successor=SUCCESSOR if status == "corrected" else None,
    )
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, view, trusted=TRUSTED)
    assert info.value.check == "status"
    assert "status set for another origin" in info.value.detail
    assert "0x" + other.hex() in info.value.detail
    assert list(info.value.passed) == ORDER[:-1]


def test_the_status_of_the_bundles_own_record_is_asked() -> None:
    bundle, view = FACTORY.scenario()
    elsewhere = hashlib.sha256(b"some other record").digest()
    view.set_status(elsewhere, "erased", origin=FACTORY.dept_org)
    assert verify_bundle(bundle, view, trusted=TRUSTED).status == "active"


def test_a_corrected_status_without_a_successor_fails() -> None:
    bundle, view = FACTORY.scenario()
    view.statuses[_record_id(bundle)] = RecordLifecycle(
        status="corrected", origin=FACTORY.dept_org, actor=FACTORY.dept_org, version=1
    )
    assert failing_check(bundle, view) == "status"


def test_a_chain_that_cannot_tell_the_status_gives_no_verdict() -> None:
    bundle, view = FACTORY.scenario()

    def unreachable(record_id: bytes) -> RecordLifecycle:
        raise ChainQueryFailed("node unreachable")

    view.record_status = unreachable  # type: ignore[method-assign]
    with pytest.raises(ChainQueryFailed):
        verify_bundle(bundle, view, trusted=TRUSTED)


@pytest.mark.parametrize(
    ("result", "line"),
    [
        ({"status": "active"}, "active"),
        (
            {
                "status": "corrected",
                "successor": "ab" * 32,
                "status_updated_at": 1_795_670_000,
                "status_actor": "0x" + "cd" * 32,
            },
            f"corrected — superseded by {'ab' * 32} (since 2026-11-26T05:13:20Z)",
        ),
        (
            {"status": "erased", "status_updated_at": 0, "status_actor": "0x01"},
            "erased (since 1970-01-01T00:00:00Z)",
        ),
        ({"status": "withdrawn", "status_updated_at": 2**64 - 1}, "withdrawn (since block time "),
    ],
)
def test_the_cli_status_line(result: dict[str, Any], line: str) -> None:
    from gateway.cli._verify import _status_line

    bundle, view = FACTORY.scenario()
    valid = dataclasses.replace(verify_bundle(bundle, view, trusted=TRUSTED), **result)
    assert _status_line(valid).startswith(line)


# ---------------------------------------------------------------------------------------
# Chain-dependent failures


def test_trust_root_is_checked_first_and_without_the_chain() -> None:
    bundle, view = FACTORY.scenario()
    evil = FakeChainView()  # a chain that knows nothing
    for key, value in [
        ("chain_id", 1),
        ("membership", "0x" + "11" * 20),
        ("checkpoint_log", "0x" + "22" * 20),
    ]:
        tampered = copy.deepcopy(bundle)
        tampered["chain"][key] = value
        assert failing_check(tampered, evil) == "trust-root"
        assert evil.calls == []
    lower = copy.deepcopy(bundle)
    lower["chain"]["membership"] = lower["chain"]["membership"].lower()
    assert failing_check(lower, view) == "trust-root"  # exact EIP-55 form only


def test_a_bundle_pointing_at_its_own_contracts_fails_against_our_trust_root() -> None:
    """A malicious gateway's own deployment: everything verifies in *its* world."""
    rogue = BundleFactory(trusted=TrustRoot(31337, "0x" + "aa" * 20, "0x" + "bb" * 20))
    bundle, rogue_view = rogue.scenario()
    assert verify_bundle(bundle, rogue_view, trusted=rogue.trusted).status == "active"
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, rogue_view, trusted=TRUSTED)
    assert info.value.check == "trust-root"


def test_department_key_must_be_in_force_at_signed_at() -> None:
    bundle, _ = FACTORY.scenario()
    draft_view = FACTORY.fake_chain(keys_from=NOW + 1)  # registered after signing
    _, view = FACTORY.scenario()
    view.keys[FACTORY.dept_org] = draft_view.keys[FACTORY.dept_org]
    assert failing_check(bundle, view) == "department-signature"


def test_a_rotated_out_key_does_not_verify_new_signatures() -> None:
    bundle, view = FACTORY.scenario()
    view.register(FACTORY.dept_org, account_for("new department key").address, NOW - 10)
    assert failing_check(bundle, view) == "department-signature"
    # ...while signatures made before the rotation still verify
    bundle, view = FACTORY.scenario()
    view.register(FACTORY.dept_org, account_for("new department key").address, NOW + 10)
    assert verify_bundle(bundle, view, trusted=TRUSTED).checks == tuple(ORDER)


def test_a_stranger_signing_for_the_department_fails() -> None:
    bundle, view = FACTORY.scenario(signer=account_for("stranger"))
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, view, trusted=TRUSTED)
    assert info.value.check == "department-signature"
    assert "recovers to" in info.value.detail
    assert info.value.passed == ("trust-root", "record-commitment")


def test_unknown_orgs_fail_their_signature_checks() -> None:
    bundle, view = FACTORY.scenario()
    del view.keys[FACTORY.dept_org]
    assert failing_check(bundle, view) == "department-signature"
    bundle, view = FACTORY.scenario()
    del view.keys[FACTORY.gateway_org]
    assert failing_check(bundle, view) == "receipt-signature"


def test_gateway_key_must_be_the_one_in_force_at_received_at() -> None:
    bundle, view = FACTORY.scenario()
    view.register(FACTORY.gateway_org, account_for("new gateway key").address, NOW)
    assert failing_check(bundle, view) == "receipt-signature"


def test_unanchored_or_conflicting_checkpoints_fail() -> None:
    bundle, view = FACTORY.scenario()
    view.checkpoints.clear()
    assert failing_check(bundle, view) == "checkpoint-on-chain"
    bundle, view = FACTORY.scenario()
    key = next(iter(view.checkpoints))
    view.checkpoints[key] = (hashlib.sha256(b"fork").digest(), view.checkpoints[key][1])
    assert failing_check(bundle, view) == "checkpoint-on-chain"
    bundle, view = FACTORY.scenario()
    view.checkpoints[key] = (view.checkpoints[key][0], Anchor(58, b"\x01" * 32))
    assert failing_check(bundle, view) == "checkpoint-on-chain"


def test_a_gateway_cannot_receipt_into_another_gateways_log() -> None:
    """A second registered gateway validly signs a receipt for the first gateway's log."""
    other = BundleFactory(
        gateway=account_for("other gateway"),
        gateway_org=hashlib.sha256(b"other gateway org").digest(),
        log_override=FACTORY.records_log,
    )
    bundle, view = other.scenario()
    assert bundle["log"]["id"] == bundle["receipt"]["log_id"] == "0x" + FACTORY.records_log.hex()
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, view, trusted=TRUSTED)
    assert info.value.check == "receipt-signature"
    assert "is not the records log of gateway" in info.value.detail


def test_receipt_time_must_be_the_leaf_time() -> None:
    """A validly signed receipt whose time differs from the leaf's (e.g. to pick a key)."""
    bundle, view = FACTORY.scenario(received_at=NOW + 1, receipt_time=NOW + 5)
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, view, trusted=TRUSTED)
    assert info.value.check == "receipt-signature"
    assert "received_at" in info.value.detail


# ---------------------------------------------------------------------------------------
# The tamper matrix


def walk(node: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every leaf (scalar) of a JSON document with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))
    else:
        yield path, node


def containers(node: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every object (dict) of a JSON document with its path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from containers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from containers(value, (*path, index))


_HEX_DIGITS = "0123456789abcdef"


def altered(value: Any) -> Any:
    """A different value of the same kind (hex stays valid hex of the same length)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str)
    assert value
    last = value[-1]
    if last.lower() in _HEX_DIGITS:
        digit = _HEX_DIGITS[(_HEX_DIGITS.index(last.lower()) + 1) % 16]
        return value[:-1] + (digit.upper() if last.isupper() else digit)
    return value[:-1] + chr(ord(last) + 1)


def put(doc: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


# Which check must catch a change at a path: first matching prefix wins. ``*`` matches any
# key or index. There is deliberately no catch-all: a new bundle member needs a rule.
RULES: list[tuple[Path, set[str]]] = [
    (("v",), {"malformed"}),
    (("record",), {"record-commitment"}),
    (("salt",), {"record-commitment"}),
    (("leaf", "v"), {"malformed"}),
    (("leaf", "kind"), {"malformed"}),
    (("leaf", "org"), {"record-commitment"}),
    (("leaf", "category"), {"record-commitment"}),
    (("leaf", "commitment"), {"record-commitment"}),
    (("leaf", "subject_tag"), {"leaf-hash"}),  # without the pepper only the leaf hash binds it
    (("leaf", "sig", "scheme"), {"malformed"}),
    (("leaf", "sig", "type"), {"malformed"}),
    (("leaf", "sig"), {"department-signature"}),
    (("leaf", "received_at"), {"leaf-hash"}),
    (("receipt", "leaf_hash"), {"leaf-hash"}),
    (("receipt",), {"receipt-signature"}),
    (("log", "id"), {"checkpoint-on-chain"}),
    (("log", "index"), {"inclusion"}),
    (("log", "inclusion"), {"inclusion"}),
    # a smaller size can share the audit path shape: then the chain has no such checkpoint
    (("log", "checkpoint", "size"), {"inclusion", "checkpoint-on-chain"}),
    (("log", "checkpoint", "root"), {"inclusion"}),
    (("chain", "chain_id"), {"trust-root"}),
    (("chain", "membership"), {"trust-root"}),
    (("chain", "checkpoint_log"), {"trust-root"}),
    (("chain", "anchor_tx"), {"checkpoint-on-chain"}),
    (("chain", "anchor_block"), {"checkpoint-on-chain"}),
    (("status", "source"), {"status"}),
    (("status", "record_id"), {"leaf-hash"}),
]
PEPPER_RULES: list[tuple[Path, set[str]]] = [(("leaf", "subject_tag"), {"record-commitment"})]


def expected(path: Path, rules: list[tuple[Path, set[str]]]) -> set[str]:
    for prefix, checks in rules:
        head = path[: len(prefix)]
        if len(head) == len(prefix) and all(
            p in ("*", k) for p, k in zip(prefix, head, strict=True)
        ):
            return checks
    raise AssertionError(f"no rule says which check must catch a change at {path}")


SCENARIOS = {
    "single": {},
    "batch": {"batch": 6, "position": 4, "log_size": 11, "leaf_index": 6},
}


@pytest.mark.parametrize("pepper", [False, True], ids=["no-pepper", "pepper"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_tamper_matrix_every_leaf_altered(scenario: str, pepper: bool) -> None:
    bundle, view = FACTORY.scenario(**SCENARIOS[scenario])
    kwargs: dict[str, Any] = {"pepper": FACTORY.pepper} if pepper else {}
    rules = (PEPPER_RULES if pepper else []) + RULES
    verify_bundle(bundle, view, trusted=TRUSTED, **kwargs)  # the original is valid
    seen = 0
    for path, value in walk(bundle):
        tampered = put(bundle, path, altered(value))
        got = failing_check(tampered, view, **kwargs)
        assert got in expected(path, rules), f"change at {path} caught by {got}"
        seen += 1
    assert seen == (57 if scenario == "batch" else 51)  # every scalar of the bundle


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_tamper_matrix_every_member_removed_or_added(scenario: str) -> None:
    bundle, view = FACTORY.scenario(**SCENARIOS[scenario])
    for path, node in containers(bundle):
        in_record = path[:1] == ("record",)
        for key in node:
            removed = copy.deepcopy(bundle)
            target: Any = removed
            for k in path:
                target = target[k]
            del target[key]
            if path == ("record",) and key in ("org", "category"):
                must = {"malformed"}  # the verifier needs these two to compare with the leaf
            elif in_record:
                must = {"record-commitment"}  # the record is free-form: the hash catches it
            else:
                must = {"malformed"}  # every other object has an exact member set
            assert failing_check(removed, view) in must, (*path, key)
        added = put(bundle, (*path, "zz_extra"), 1) if path else {**bundle, "zz_extra": 1}
        must = {"record-commitment"} if in_record else {"malformed"}
        assert failing_check(added, view) in must, path


def test_every_inclusion_node_and_batch_node_matters() -> None:
    bundle, view = FACTORY.scenario(**SCENARIOS["batch"])
    assert len(bundle["log"]["inclusion"]) == 4
    assert len(bundle["leaf"]["sig"]["batch"]["path"]) == 2
    for i in range(4):
        tampered = put(bundle, ("log", "inclusion", i), "00" * 32)
        assert failing_check(tampered, view) == "inclusion"
    for i in range(2):
        tampered = put(bundle, ("leaf", "sig", "batch", "path", i), "00" * 32)
        assert failing_check(tampered, view) == "department-signature"
    shortened = copy.deepcopy(bundle)
    shortened["log"]["inclusion"].pop()
    assert failing_check(shortened, view) == "inclusion"


def test_the_matrix_can_fail_without_the_inclusion_check() -> None:
    """Guard against a vacuous matrix: drop one check and a forged proof gets through."""
    bundle, view = FACTORY.scenario()
    forged = put(bundle, ("log", "inclusion", 0), "00" * 32)
    without = [c for c in DEFAULT_CHECKS if not isinstance(c, InclusionCheck)]
    assert verify_bundle(forged, view, trusted=TRUSTED, checks=without).status == "active"


# ---------------------------------------------------------------------------------------
# Malformed bundles


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: "not a bundle",
        lambda b: [],
        lambda b: {**b, "v": 2},
        lambda b: {**b, "v": True},
        lambda b: {**b, "record": []},
        lambda b: {**b, "record": {**b["record"], "org": 1}},
        lambda b: {**b, "salt": b["salt"].upper()},
        lambda b: {**b, "salt": b["salt"][:-2]},
        lambda b: {**b, "log": {**b["log"], "inclusion": "00"}},
        lambda b: {**b, "log": {**b["log"], "inclusion": ["00" * 32] * 65}},
        lambda b: {**b, "log": {**b["log"], "index": -1}},
        lambda b: {**b, "log": {**b["log"], "index": 3.0}},
        lambda b: {**b, "chain": {**b["chain"], "membership": "0x1234"}},
        lambda b: {**b, "chain": {**b["chain"], "anchor_tx": "0x" + "ab" * 31}},
        lambda b: {**b, "status": {**b["status"], "source": None}},
        lambda b: {**b, "record": {**b["record"], "x": float("nan")}},
        lambda b: {**b, "receipt": {**b["receipt"], "index": "41"}},
    ],
)
def test_malformed_bundles(mutate: Any) -> None:
    bundle, view = FACTORY.scenario()
    with pytest.raises(BundleMalformed) as info:
        verify_bundle(mutate(bundle), view, trusted=TRUSTED)
    assert info.value.check == "malformed"
    assert view.calls == []  # refused before asking the chain anything


def test_error_hierarchy() -> None:
    assert issubclass(BundleMalformed, VerificationError)
    assert issubclass(VerificationError, VerifyError)
    err = VerificationError("inclusion", "bad path")
    assert (err.check, err.detail, str(err)) == ("inclusion", "bad path", "inclusion: bad path")


def test_parse_bundle_exposes_the_parts() -> None:
    bundle, _ = FACTORY.scenario(**SCENARIOS["batch"])
    parsed = parse_bundle(bundle)
    assert parsed.log.index == 6
    assert parsed.log.size == 11
    assert parsed.leaf.sig.batch is not None
    assert parsed.leaf.sig.batch.index == 4
    assert parsed.chain.anchor_block == 57
    assert parsed.record_id.hex() == bundle["status"]["record_id"]


def test_fake_chain_view_satisfies_the_protocol() -> None:
    assert isinstance(FakeChainView(), ChainView)
