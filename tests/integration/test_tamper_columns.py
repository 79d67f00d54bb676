"""The insider-tamper suite (issue 9): every column of every table of the gateway's database,
edited alone by an insider who can write the database but holds no key, is either

* **caught** — ``creditchain check`` (:meth:`Gateway.integrity`) names it with the expected
  finding, or ``audit verify`` does; or
* **harmless by construction** — nothing any decision returns changes: the same records are
  released to a reader, the subject sees the same file, the public status is the same, the
  department's opened proof is the same, the auditor's trace of the entries that existed is
  the same, and retention would erase the same records.

Each case is applied to one populated gateway, observed, and undone. A table or column added
later fails :func:`test_every_column_is_classified` until it is classified here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from gateway.client import ClientError, SubjectClient
from gateway.store import _models  # noqa: F401 - every table registered in the metadata
from node import GrantBasis
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import (
    bind_subject,
    office_request,
    subject_request,
    transition,
)
from tests.integration.test_reads import DAY, commitment_of, make_grant, org_id, read

# ---------------------------------------------------------------------------------------------
# What each column is: caught by which check, or harmless and why
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caught:
    """``check`` (and, for the access index, ``audit verify``) names one of ``checks``."""

    checks: frozenset[str]


@dataclass(frozen=True)
class Harmless:
    """No decision reads this column (or it re-derives it): observed, nothing changes —
    after ``settle``, a pass the gateway's own workers make on their own every few seconds."""

    why: str
    settle: Callable[[Env], object] | None = None


def caught(*checks: str) -> Caught:
    return Caught(frozenset(checks))


LOG = caught("entry-hash", "log-contiguity", "subtree-hash", "anchored-root", "record-leaf")
RECORD = caught("record-row", "record-leaf")
STATUS = caught("status-row", "status-leaf", "record-row")
INDEX = caught("access-index")
SURROGATE = Harmless("surrogate key: no decision reads it; rows are found by their own keys")

COLUMNS: dict[str, Caught | Harmless] = {
    # the Merkle logs: recomputed from the entries and compared with the chain's checkpoints
    "log_entry.log_name": LOG,
    "log_entry.idx": LOG,
    "log_entry.entry": LOG,
    "log_entry.leaf_hash": LOG,
    "log_node.log_name": LOG,
    "log_node.level": LOG,
    "log_node.idx": LOG,
    "log_node.hash": LOG,
    "log_head.log_name": caught("log-head", "log-contiguity", "anchored-root"),
    "log_head.size": caught("log-head"),
    # records: every column a decision reads is bound to the record's leaf, its status leaves
    # and RecordStatus on chain (gateway/_bound.py)
    "record.record_id": RECORD,
    "record.log_index": RECORD,
    "record.org_id": RECORD,
    "record.category": RECORD,
    "record.subject_commitment": RECORD,
    "record.commitment": RECORD,
    "record.envelope": caught("envelope", "record-commitment", "record-row"),
    "record.status": RECORD,
    "record.status_version": RECORD,
    "record.successor": RECORD,
    "record.received_at": RECORD,
    "record.erased_at": caught("record-erased-at"),
    "record.dedup_key": caught("record-dedup"),
    "record.kek_id": caught("record-kek"),
    "record.receipt": caught("record-receipt"),
    "record.submission_id": Harmless("a link to the nonce row: written, never read"),
    "record.legal_hold": caught("record-hold"),
    "record.retain_until": caught("record-retention"),
    # lifecycle transitions: each row is compared with its status leaf
    "status_change.id": SURROGATE,
    "status_change.record_id": STATUS,
    "status_change.version": STATUS,
    "status_change.from_status": STATUS,
    "status_change.to_status": STATUS,
    "status_change.transition": STATUS,
    "status_change.signature": STATUS,
    "status_change.actor": STATUS,
    "status_change.log_index": STATUS,
    "status_change.state": caught("relay-row"),
    "status_change.tx_hash": caught("relay-row"),
    "status_change.created_at": Harmless("bookkeeping of the relay outbox"),
    "status_change.updated_at": Harmless("bookkeeping of the relay outbox"),
    "status_change.attempts": Harmless("relay retry count: a wrong count only moves a dead letter"),
    "status_change.failure": Harmless("the relay's last error text, for the operator"),
    # the anchoring outbox: confirmed rows are checkpoints the chain holds, open rows the
    # log's roots
    "anchor.id": SURROGATE,
    "anchor.log_name": caught("anchor-row"),
    "anchor.size": caught("anchor-row"),
    "anchor.root": caught("anchor-row"),
    "anchor.state": Harmless(
        "a confirmed row reopened is settled again from the chain by the anchoring worker's next "
        "pass (a row marked confirmed that the chain does not hold is anchor-row: "
        "test_outbox_tamper)",
        settle=lambda env: env.runtime.anchorer.step(),
    ),
    "anchor.tx_hash": caught("anchor-row"),
    "anchor.block_number": caught("anchor-row"),
    "anchor.from_size": Harmless("not read: the consistency proof is from the chain's latest size"),
    "anchor.block_hash": Harmless("never read (reorgs are detected by receipt lookups)"),
    "anchor.created_at": Harmless("bookkeeping of the anchoring outbox"),
    "anchor.updated_at": Harmless("bookkeeping of the anchoring outbox"),
    # request nonces: a logged request's nonce row must exist and match; a replay it let in
    # appears as two log entries with one nonce
    "submission.id": SURROGATE,
    "submission.org_id": caught("nonce-row"),
    "submission.nonce": caught("nonce-row"),
    "submission.request_digest": caught("nonce-row"),
    "submission.received_at": Harmless("not read: the replay window is judged on signed_at"),
    # KEK metadata: keys/kek.json alone decides which keys exist and which one seals
    "kek.kek_id": Harmless("write-only metadata: keys/kek.json decides every key"),
    "kek.created_at": Harmless("write-only metadata: keys/kek.json decides every key"),
    "kek.retired_at": Harmless("write-only metadata: keys/kek.json decides every key"),
    # objections, repair applications and rejections: each a leaf of the records log (its
    # request); their rows re-derived from those leaves and the status leaves that settle them
    "objection.id": caught("objection-row"),
    "objection.record_id": caught("objection-row"),
    "objection.subject_commitment": caught("objection-row"),
    "objection.reason": caught("objection-row"),
    "objection.evidence_hash": caught("objection-row"),
    "objection.filed_at": caught("objection-row"),
    "objection.deadline": caught("objection-row"),
    "objection.state": caught("objection-row"),
    "objection.resolved_at": caught("objection-row"),
    "objection.resolution": caught("objection-row"),
    "repair.id": caught("repair-row"),
    "repair.record_id": caught("repair-row"),
    "repair.subject_commitment": caught("repair-row"),
    "repair.reason": caught("repair-row"),
    "repair.filed_at": caught("repair-row"),
    "repair.state": caught("repair-row"),
    "repair.decided_at": caught("repair-row"),
    "repair.decided_by": caught("repair-row"),
    "repair.decision_reason": caught("repair-row"),
    # sealed free texts: each opens (AAD: record id and purpose) to the commitment its leaf holds
    "free_text.id": Harmless("surrogate key: texts are found by (record_id, purpose)"),
    "free_text.record_id": caught("free-text"),
    "free_text.purpose": caught("free-text"),
    "free_text.kek_id": caught("free-text"),
    "free_text.envelope": caught("free-text"),
    # the access index: compared entry by entry with the access log
    "access_decision.id": SURROGATE,
    "access_decision.log_index": INDEX,
    "access_decision.requester": INDEX,
    "access_decision.subject_commitment": INDEX,
    "access_decision.record_id": INDEX,
    "access_decision.purpose": INDEX,
    "access_decision.decision": INDEX,
    "access_decision.reason": INDEX,
    "access_decision.basis": INDEX,
    "access_decision.grant_id": INDEX,
    "access_decision.decided_at": INDEX,
}


def _all_columns() -> set[str]:
    return {
        f"{t.name}.{c.name}"
        for t in SQLModel.metadata.sorted_tables
        for c in t.columns
        if t.name != "alembic_version"
    }


def test_every_column_is_classified() -> None:
    missing = sorted(_all_columns() - set(COLUMNS))
    stale = sorted(set(COLUMNS) - _all_columns())
    assert not missing, f"classify these columns in COLUMNS: {missing}"
    assert not stale, f"these columns no longer exist: {stale}"


# ---------------------------------------------------------------------------------------------
# A populated gateway, and what its decisions say
# ---------------------------------------------------------------------------------------------


@dataclass
class World:
    env: Env
    subject_a: dict[str, str]
    subject_b: dict[str, str]
    grant_a: bytes
    key_a: Any
    records: dict[str, str] = field(default_factory=dict)
    access_size: int = 0


def _submit(env: Env, slug: str, subject: dict[str, str]) -> str:
    rec = env.record(slug)
    rec["subject"] = subject
    if slug == "market":  # distinct content: the subject is shared
        rec["fields"]["fine_amount_fen"] = 100_000 + env._serial
    (receipt,) = env.client(slug).submit([rec])
    return str(receipt["leaf_hash"])


def _ok(r: Any) -> Any:
    assert r.status_code < 300, r.text
    return r.json()


def populate(env: Env) -> World:
    """Records of two subjects from two departments, every lifecycle row kind (objection,
    repair application and rejection, correction, legal hold, erasure, free texts), reads
    allowed and denied, all anchored and relayed."""
    a = env.record("tax")["subject"]
    b = env.record("market")["subject"]
    now = int(chain_clock(env.chain))
    grant_a = make_grant(
        env,
        subject=commitment_of(env, a),
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating", "admin_penalty"],
        start=now - DAY,
        end=now + 300 * DAY,
        basis=GrantBasis.CONSENT,
    )
    w = World(env, a, b, grant_a, bind_subject(env, a))
    r = w.records
    r["a1"] = _submit(env, "tax", a)
    r["a2"] = _submit(env, "tax", a)
    r["a3"] = _submit(env, "tax", a)
    r["a4"] = _submit(env, "tax", a)
    r["m1"] = _submit(env, "market", a)
    r["m2"] = _submit(env, "market", a)
    r["b1"] = _submit(env, "market", b)
    r["b2"] = _submit(env, "market", b)
    # an objection (a2), a repair application rejected by the office (a3), a correction
    # (m2 -> m3), a legal hold (m1), an erasure (a4)
    _ok(
        subject_request(
            env,
            w.key_a,
            a,
            r["a2"],
            "objection",
            {"reason": "not ours", "evidence_hash": "ab" * 32},
        )
    )
    repair = _ok(subject_request(env, w.key_a, a, r["a3"], "repair", {"reason": "paid"}))["repair"]
    _ok(
        office_request(
            env,
            f"/v1/repairs/{repair}/rejection",
            "reject-repair",
            int(repair).to_bytes(32, "big"),
            {"reason": "too early"},
        )
    )
    r["m3"] = _submit(env, "market", a)
    _ok(transition(env, "market", r["m2"], "corrected", reason="typo", successor=r["m3"]))
    _ok(
        office_request(
            env, f"/v1/records/{r['m1']}/hold", "legal-hold", bytes.fromhex(r["m1"]), {"hold": True}
        )
    )
    _ok(transition(env, "tax", r["a4"], "erased", reason="wrongly recorded"))
    # reads: allowed (subject a under consent), denied (subject b, no grant)
    assert (
        read(
            env,
            "bank",
            subject=a,
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=grant_a,
        )[0]
        == 200
    )
    assert (
        read(
            env,
            "bank",
            subject=b,
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=None,
        )[0]
        == 403
    )
    env.runtime.lifecycle.relay()
    env.anchor()
    w.access_size = int(env.runtime.gateway.checkpoint("access")["size"])
    return w


def _problem(exc: ClientError) -> tuple[str, int, str]:
    return ("refused", exc.status, str(exc.problem.get("type", "")))


def observe(w: World) -> dict[str, Any]:
    """Everything a decision returns, about both subjects' records."""
    env, r = w.env, w.records
    out: dict[str, Any] = {}
    status, answer = read(
        env,
        "bank",
        subject=w.subject_a,
        purpose="loan_approval",
        categories=["tax_credit_rating", "admin_penalty"],
        grant_id=w.grant_a,
    )
    out["read"] = (
        status,
        sorted(
            (x["record_id"], x["status"], sorted(x["fields"].items()))
            for x in answer.get("records", [])
        ),
        answer.get("reason"),
    )
    d = env.runtime.deployment
    subject = SubjectClient(
        env.url,
        w.key_a,
        w.subject_a,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )
    try:
        mine = subject.records()
        out["file"] = (
            sorted(
                (x["record_id"], x["status"], x["successor"], str(x["fields"]))
                for x in mine["records"]
            ),
            sorted(str(o) for o in mine.get("objections", [])),
        )
    except ClientError as exc:
        out["file"] = _problem(exc)
    try:
        seen = subject.accesses()["decisions"]
        out["accesses"] = sorted(
            (
                x["log_index"],
                x["requester"],
                x["record_id"],
                x["purpose"],
                x["decision"],
                x["reason"],
                x.get("basis"),
            )
            for x in seen
            if x["log_index"] < w.access_size
        )
    except ClientError as exc:
        out["accesses"] = _problem(exc)
    out["status"] = {}
    for name, rid in r.items():
        s = env.http.get(f"{env.url}/v1/records/{rid}/status")
        out["status"][name] = (
            (s.json()["status"], s.json()["successor"], s.json()["version"])
            if s.status_code == 200
            else ("refused", s.status_code)
        )
    for name, slug in (("a1", "tax"), ("m1", "market")):
        try:
            out[f"proof:{name}"] = env.client(slug).proof(r[name]).get("record", "pending")
        except ClientError as exc:
            out[f"proof:{name}"] = _problem(exc)
    listed = office_request(
        env, "/v1/objections/query", "list-objections", b"\x00" * 32, {"overdue": False}
    )
    out["objections"] = (
        sorted(str(o) for o in listed.json()["objections"])
        if listed.status_code == 200
        else ("refused", listed.status_code)
    )
    out["retention"] = _retention_would_erase(env)
    return out


def _retention_would_erase(env: Env) -> list[str]:
    """The records one retention pass would erase (the erasing transition is spied on, not
    made: an erasure cannot be undone)."""
    lc = env.runtime.lifecycle
    wanted: list[str] = []
    real = lc.office_transition

    def spy(record_id: str, to: str, *, reason: str) -> dict[str, Any]:
        wanted.append(record_id)
        return {}

    lc.office_transition = spy  # type: ignore[method-assign]
    try:
        lc.retention_step()
    finally:
        lc.office_transition = real  # type: ignore[method-assign]
    return sorted(wanted)


# ---------------------------------------------------------------------------------------------
# One column edited
# ---------------------------------------------------------------------------------------------


def _table(name: str) -> sa.Table:
    return SQLModel.metadata.tables[name]


def _flip(value: Any) -> Any:
    """A value of the same type that differs."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, bytes | memoryview):
        b = bytes(value)
        return b[:-1] + bytes([b[-1] ^ 0x01]) if b else b"\x01"
    if isinstance(value, str):
        last = value[-1:] or "0"
        swap = {"0": "1", "1": "0"}.get(last, "0" if last != "0" else "1")
        return value[:-1] + swap
    return "tampered"


STATES = {"anchor.state": ("sent", "prepared")}
"""Other values of columns a CHECK constraint holds to a set."""


def _candidates(conn: sa.Connection, table: sa.Table, column: str, row: Any) -> Iterator[Any]:
    """Plausible edits, most plausible first: another row's value, another allowed state,
    then a flipped one."""
    current = row._mapping[column]
    yield from (v for v in STATES.get(f"{table.name}.{column}", ()) if v != current)
    others = conn.execute(
        sa.select(table.c[column]).where(table.c[column].is_not(None)).distinct().limit(50)
    ).scalars()
    for value in others:
        if value != current:
            yield value
    for fk in table.c[column].foreign_keys:  # another row of the table it points to
        target = fk.column
        for value in conn.execute(sa.select(target).distinct().limit(50)).scalars():
            if value != current:
                yield value
    if current is None:
        yield _flip(0 if column.endswith("_at") else "0")
        return
    yield _flip(current)
    if isinstance(current, int) and not isinstance(current, bool):
        yield current + 1_000_003  # past every other row's value of a unique column


def _target(conn: sa.Connection, table: sa.Table, column: str, w: World) -> Any:
    """The row to edit: one the observations depend on where there is one."""
    stmt = sa.select(table)
    names = set(table.c.keys())
    if table.name == "record":
        stmt = stmt.where(table.c.record_id == w.records["a1"])
    elif table.name == "access_decision":
        stmt = stmt.where(table.c.log_index < w.access_size).order_by(table.c.log_index)
    elif "record_id" in names and table.name != "access_decision":
        mine = [w.records[k] for k in ("a1", "a2", "a3", "m1", "m2")]
        stmt = stmt.where(table.c.record_id.in_(mine))
    stmt = stmt.where(table.c[column].is_not(None)) if column in names else stmt
    rows = conn.execute(stmt.order_by(*table.primary_key.columns)).all()
    if not rows:
        rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
    assert rows, f"no row of {table.name} to edit: populate() makes every kind"
    # the newest log rows and transitions; a nonce row no record points to for its own id
    last = table.name in ("log_entry", "log_node", "status_change") or column == "id"
    return rows[-1] if last else rows[0]


def _key(table: sa.Table, values: Any) -> sa.ColumnElement[bool]:
    return sa.and_(*(c == values[c.name] for c in table.primary_key.columns))


def _edit(env: Env, w: World, table_name: str, column: str) -> Callable[[], None]:
    """Edit one column of one row (the first plausible value the database accepts); return
    the undo."""
    table = _table(table_name)
    with env.runtime.engine.begin() as conn:
        row = _target(conn, table, column, w)
        before = dict(row._mapping)
        for value in _candidates(conn, table, column, row):
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.update(table).where(_key(table, before)).values({column: value})
                    )
                break
            except sa.exc.IntegrityError:
                continue
        else:
            raise AssertionError(f"no edit of {table_name}.{column} was accepted")
    after = dict(before, **{column: value})

    def undo() -> None:
        with env.runtime.engine.begin() as conn:
            conn.execute(
                sa.update(table).where(_key(table, after)).values({column: before[column]})
            )

    return undo


# ---------------------------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.integration.conftest import _running

    path = tmp_path_factory.mktemp("tamper")
    gen = _running(f"sqlite:///{path / 'gateway.db'}", path)
    env = next(gen)
    try:
        w = populate(env)
        w.baseline = observe(w)  # type: ignore[attr-defined]
        assert env.runtime.gateway.integrity() == [], "the populated gateway is intact"
        yield w
    finally:
        gen.close()


@pytest.mark.parametrize("column", sorted(COLUMNS))
def test_column_tamper(world: World, column: str) -> None:
    """Caught: ``check`` names it (nothing is served from the edited row meanwhile: the
    observations of a caught edit would append to the logs of a tampered database). Harmless:
    every decision's answer is what it was."""
    expect = COLUMNS[column]
    env = world.env
    table, name = column.split(".")
    undo = _edit(env, world, table, name)
    try:
        findings = env.runtime.gateway.integrity()
        named = {f.check for f in findings}
        if isinstance(expect, Harmless) and expect.settle is not None:
            expect.settle(env)
        seen = observe(world) if isinstance(expect, Harmless) else None
    finally:
        undo()
    if isinstance(expect, Caught):
        assert named & expect.checks, (column, "not caught", findings)
    else:
        assert seen is not None
        changed = sorted(k for k in seen if seen[k] != world.baseline[k])  # type: ignore[attr-defined]
        assert not changed, (column, "claimed harmless, but changed", changed)
    assert env.runtime.gateway.integrity() == [], f"undo of {column} left findings"
