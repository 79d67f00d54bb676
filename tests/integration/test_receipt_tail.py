"""Finding 4: dropping the unanchored tail of a log is never silent. The gateway refuses to
start when it signed receipts beyond its log (`check` names it too), and receipt holders'
`verify_receipts` names each receipt whose index now holds another leaf."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway._receipt_mark import MARK_DIR, mark_findings
from gateway._runtime import build
from gateway.errors import ReceiptsBeyondLog
from gateway.receipts import ReceiptStore, verify_receipts
from tests.integration.conftest import Env, chain_clock


def drop_tail(env: Env, name: str, size: int) -> None:
    """The insider: the log cut back to ``size`` entries, as if the rest never was."""
    with env.runtime.engine.begin() as c:
        c.execute(
            sa.text("DELETE FROM log_entry WHERE log_name = :n AND idx >= :s"),
            {"n": name, "s": size},
        )
        c.execute(
            sa.text("DELETE FROM log_node WHERE log_name = :n AND ((idx + 1) << level) > :s"),
            {"n": name, "s": size},
        )
        c.execute(
            sa.text("UPDATE log_head SET size = :s WHERE log_name = :n"), {"n": name, "s": size}
        )
        if name == "records":
            c.execute(sa.text("DELETE FROM record WHERE log_index >= :s"), {"s": size})


def records_size(env: Env) -> int:
    with env.runtime.engine.connect() as c:
        return int(
            c.execute(sa.text("SELECT size FROM log_head WHERE log_name = 'records'")).scalar_one()
        )


def restart(env: Env) -> None:
    env.runtime.close()
    build(
        env.runtime.settings,
        chain=env.chain,
        deployment=env.runtime.deployment,
        registrar=env.deployer,
        clock=lambda: chain_clock(env.chain),
    ).close()


def test_dropped_tail_refuses_restart_and_check_names_it(sqlite_env: Env) -> None:
    env = sqlite_env
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(4)])
    env.anchor()
    anchored = records_size(env)
    tax.submit([env.record("tax") for _ in range(3)])  # receipts out, not anchored yet
    drop_tail(env, "records", anchored)

    findings = mark_findings(
        env.runtime.settings.data_dir, bytes(env.runtime.secrets.signer.key), env.runtime.engine
    )
    assert [f.check for f in findings] == ["receipt-mark"]
    assert f"up to index {anchored + 2} of the records log" in findings[0].detail
    assert f"holds only {anchored} entries" in findings[0].detail

    with pytest.raises(ReceiptsBeyondLog) as refused:
        restart(env)
    assert "records log" in str(refused.value)
    assert f"up to index {anchored + 2}" in str(refused.value)
    assert f"only {anchored} entries" in str(refused.value)
    assert "refusing to start" in str(refused.value)


def test_a_forged_mark_file_refuses_start(sqlite_env: Env) -> None:
    env = sqlite_env
    env.client("tax").submit([env.record("tax")])
    env.runtime.close()
    marks = list((env.runtime.settings.data_dir / MARK_DIR).glob("*.mark"))
    assert marks
    data = bytearray(marks[0].read_bytes())
    data[-40] ^= 1  # the insider lowers a mark without the key
    data[-80] ^= 1
    marks[0].write_bytes(bytes(data))
    with pytest.raises(ReceiptsBeyondLog, match="not signed by this gateway's key"):
        restart(env)


def test_receipts_verify_names_the_contradicted_receipts(sqlite_env: Env, tmp_path: Path) -> None:
    env = sqlite_env
    store = ReceiptStore(tmp_path / "receipts")
    tax = env.client("tax")
    tax.receipt_store = store
    early = tax.submit([env.record("tax") for _ in range(4)])
    env.anchor()
    anchored = records_size(env)
    lost = tax.submit([env.record("tax") for _ in range(3)])
    drop_tail(env, "records", anchored)
    # the gateway hands the dropped indices to other entries, and anchors them
    market = env.client("market")
    others = market.submit([env.record("market") for _ in range(3)])
    assert sorted(r["index"] for r in others) == sorted(r["index"] for r in lost)
    env.anchor()

    later = lambda: chain_clock(env.chain) + 3600  # noqa: E731 - every anchor_by has passed
    checks = verify_receipts(
        store.load(),
        chain=env.chain,
        deployment=env.runtime.deployment,
        http=env.http,
        now=later,
    )
    by_index = {c.index: c for c in checks}
    assert {by_index[r["index"]].status for r in early} == {"ok"}
    assert {by_index[r["index"]].status for r in lost} == {"contradicted"}
    assert {by_index[r["index"]].leaf_hash for r in lost} == {r["leaf_hash"] for r in lost}
    assert all("holds leaf" in by_index[r["index"]].detail for r in lost)
    # before anchor_by nothing is judged
    now = verify_receipts(
        store.load(),
        chain=env.chain,
        deployment=env.runtime.deployment,
        http=env.http,
        now=lambda: 0,
    )
    assert {c.status for c in now} == {"pending"}


def test_reader_client_keeps_access_receipts_even_of_denials(
    sqlite_env: Env, tmp_path: Path
) -> None:
    from gateway.client import ClientError, ReaderClient

    env = sqlite_env
    rec = env.record("tax")
    env.client("tax").submit([rec])
    store = ReceiptStore(tmp_path / "receipts")
    bank = env.runtime.consortium["bank"]
    d = env.runtime.deployment
    reader = ReaderClient(
        env.url,
        bank.account(),
        bytes.fromhex(bank.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
        receipt_store=store,
    )
    cats = ["tax_credit_rating"]
    with pytest.raises(ClientError) as denied:  # no grant: denied, and logged
        reader.read(
            subject=rec["subject"],
            purpose="loan_approval",
            categories=cats,
            category_mask=env.runtime.gateway.catalog.category_mask(cats),
        )
    kept = store.load()
    assert [k.receipt for k in kept] == [denied.value.problem["access_receipt"]]
    env.anchor()
    checks = verify_receipts(
        kept,
        chain=env.chain,
        deployment=d,
        http=env.http,
        now=lambda: chain_clock(env.chain) + 3600,
    )
    assert [(c.log, c.status) for c in checks] == [("access", "ok")]
