"""A newcomer's path, against a real `creditchain serve --dev` process: the shipped example
records submit and verify; every client command takes the gateway from ``CREDITCHAIN_URL``
(the flag wins); the SDK page's snippets run as written; `creditchain grant` and `creditchain
read` do a read end to end with no Python — consent and statutory grants, revocation taking
effect, a subject's own consent, one-line errors."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway._devnet import load_consortium
from node import create_keystore
from tests.e2e._gateway_proc import GatewayProcess, fixed_port
from tests.e2e.test_cli_chain import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "records"
# which development org submits each example (catalog submitter kinds; examples/README.md)
SUBMITTER = {
    "admin_licence": "market",
    "admin_penalty": "market",
    "serious_dishonesty_list": "tax",
    "judgment_defaulter": "court",
    "tax_credit_rating": "tax",
    "utility_arrears": "water",
    "credit_commitment": "credit-office",
    "honour_red_list": "market",
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("newcomer")
    g = GatewayProcess(
        tmp / "dev",
        fixed_port(),
        fixed_port(),
        ("--max-merge-delay", "4"),
        log_path=tmp / "serve.log",
    )
    g.spawn()
    try:
        g.wait_healthy()
        yield g
    finally:
        g.close()


def cli(gw: GatewayProcess, *args: str, env: dict[str, str] | None = None) -> Any:
    """`creditchain …` with the gateway named only by ``CREDITCHAIN_URL``."""
    return run(
        *args, "--data-dir", str(gw.data_dir), env={"CREDITCHAIN_URL": gw.url, **(env or {})}
    )


def test_every_catalog_category_has_an_example() -> None:
    from gateway.domain.catalog import load_catalog

    assert {p.stem for p in EXAMPLES.glob("*.json")} == set(load_catalog().categories)
    assert set(SUBMITTER) == set(load_catalog().categories)


def test_every_example_record_submits_and_its_bundle_verifies(
    gw: GatewayProcess, tmp_path: Path
) -> None:
    receipts = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        r = cli(gw, "submit", str(path), "--as", SUBMITTER[path.stem], "--json")
        assert r.returncode == 0, (path.name, r.stderr)
        (receipts[path.stem],) = json.loads(r.stdout)["receipts"]
    deadline = time.monotonic() + 90
    for name, receipt in receipts.items():
        while (
            got := httpx.get(f"{gw.url}/v1/records/{receipt['leaf_hash']}/proof")
        ).status_code == 202:
            assert time.monotonic() < deadline, "not anchored in time"
            time.sleep(0.5)
        assert got.status_code == 200, got.text
        bundle = tmp_path / f"{name}.bundle.json"
        bundle.write_bytes(got.content)
        v = run("verify", str(bundle), "--data-dir", str(gw.data_dir), "--json")
        assert v.returncode == 0, (name, v.stdout, v.stderr)
        assert json.loads(v.stdout)["valid"] is True


def test_the_gateway_url_comes_from_the_environment_and_the_flag_wins(
    gw: GatewayProcess,
) -> None:
    dead = f"http://127.0.0.1:{fixed_port()}"
    example = str(EXAMPLES / "admin_penalty.json")
    by_env = run(
        "submit", example, "--as", "market", "--data-dir", str(gw.data_dir),
        env={"CREDITCHAIN_URL": dead},
    )  # fmt: skip
    assert by_env.returncode == 1
    assert by_env.stderr.count("\n") == 1
    assert dead in by_env.stderr  # it asked the env's URL
    by_flag = run(
        "submit", example, "--as", "market", "--data-dir", str(gw.data_dir), "--url", gw.url,
        env={"CREDITCHAIN_URL": dead},
    )  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    subject = json.loads(Path(example).read_text())["subject"]
    who = f"{subject['kind']}:{subject['id']}"
    read = ("read", "--as", "bank", "--subject", who, "--purpose", "loan_approval")
    for args in ((*read, "--categories", "admin_penalty"), ("audit", "verify", "--as", "auditor")):
        where = ("--data-dir", str(gw.data_dir))
        live = run(*args, *where, env={"CREDITCHAIN_URL": gw.url})  # the default port is dead
        assert "refused" not in live.stderr, (args, live.stderr)
        assert live.returncode in (0, 1), (args, live.stderr)  # 1: the read is denied
        gone = run(*args, *where, env={"CREDITCHAIN_URL": dead})
        assert gone.returncode != 0
        assert "refused" in gone.stderr, (args, gone.stderr)
        flag = run(*args, *where, "--url", gw.url, env={"CREDITCHAIN_URL": dead})
        assert flag.returncode == live.returncode, (args, flag.stderr)


def test_the_sdk_page_runs_as_written(gw: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / "docs" / "sdk.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    monkeypatch.setenv("CREDITCHAIN_URL", gw.url)
    monkeypatch.setenv("CREDITCHAIN_DATA_DIR", str(gw.data_dir))
    monkeypatch.chdir(REPO)
    namespace: dict[str, Any] = {"__name__": "sdk_page"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/sdk.md block {i}", "exec"), namespace)  # noqa: S102
    assert namespace["check"].status == "ok"


def test_grant_and_read_end_to_end_on_the_command_line(gw: GatewayProcess, tmp_path: Path) -> None:
    example = EXAMPLES / "utility_arrears.json"
    subject = json.loads(example.read_text())["subject"]
    who = f"{subject['kind']}:{subject['id']}"
    assert cli(gw, "submit", str(example), "--as", "water").returncode == 0
    read = ("read", "--as", "bank", "--subject", who, "--purpose", "loan_approval")
    cats = ("--categories", "utility_arrears")

    # no grant yet: denied, logged, exit 1; the receipt's signature still checked
    denied = cli(gw, *read, *cats, "--json")
    assert denied.returncode == 1, denied.stderr
    doc = json.loads(denied.stdout)
    assert (doc["decision"], doc["reason"]) == ("deny", "no-grant")
    assert doc["receipt_check"]["status"] == "pending"

    # a consent grant by the credit office; the bank reads; the receipt is proven on chain
    made = cli(
        gw, "grant", "create", "--as", "credit-office", "--subject", who, "--grantee", "bank",
        "--purpose", "loan_approval", *cats, "--evidence", "consent form 7", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    grant = json.loads(made.stdout)
    assert (grant["basis"], grant["categories"], grant["purpose"]) == (
        "consent",
        ["utility_arrears"],
        "loan_approval",
    )
    assert subject["id"] not in made.stdout  # the subject only as its commitment
    ok = cli(gw, *read, *cats, "--wait", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["grant_id"] == grant["grant_id"]
    assert [r["category"] for r in doc["records"]] == ["utility_arrears"]
    assert doc["records"][0]["fields"]["utility_type"] == "electricity"
    assert doc["receipt_check"]["status"] == "ok", doc["receipt_check"]
    human = cli(gw, *read, *cats)
    assert human.returncode == 0
    assert "utility_type: electricity" in human.stdout

    listed = cli(gw, "grant", "list", "--grantee", "bank", "--subject", who, "--json")
    assert [g["grant_id"] for g in json.loads(listed.stdout)["grants"]] == [grant["grant_id"]]

    # the bank is not the registrar: one line, exit 1; the credit office revokes
    refused = cli(gw, "grant", "revoke", grant["grant_id"], "--as", "bank")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "NotRegistrarOrCreditOffice" in refused.stderr
    assert cli(gw, "grant", "revoke", grant["grant_id"], "--as", "credit-office").returncode == 0
    after = cli(gw, *read, *cats)
    assert after.returncode == 1
    assert "denied: no-grant" in after.stdout
    assert "revoked" in cli(gw, "grant", "list", "--grantee", "bank", "--all").stdout

    # statutory: only a credit office; for any subject; found without --grant
    bank_statute = cli(
        gw, "grant", "create", "--as", "bank", "--any-subject", "--statutory", "--grantee",
        "bank", "--purpose", "loan_approval", *cats, "--evidence", "art. 12",
    )  # fmt: skip
    assert bank_statute.returncode == 1
    assert "NotCreditOffice" in bank_statute.stderr
    statute = cli(
        gw, "grant", "create", "--as", "credit-office", "--any-subject", "--statutory",
        "--grantee", "bank", "--purpose", "loan_approval", *cats, "--evidence", "art. 12",
        "--days", "1",
    )  # fmt: skip
    assert statute.returncode == 0, statute.stderr
    assert cli(gw, *read, *cats).returncode == 0
    gid = json.loads(
        cli(gw, "grant", "list", "--grantee", "bank", "--json").stdout
    )["grants"][0]["grant_id"]  # fmt: skip
    assert cli(gw, "grant", "revoke", gid, "--as", "credit-office").returncode == 0

    # the subject signs (and revokes) its own consent with the key a credit office bound
    password = tmp_path / "subject.password"
    password.write_text("subject-password\n")
    me = create_keystore(tmp_path / "subject.json", "subject-password", scrypt_n=2**14)
    own = ("--subject-keystore", str(tmp_path / "subject.json"))
    own_pw = ("--subject-password-file", str(password))
    consent = (
        "grant", "create", "--as", "bank", *own, *own_pw, "--subject", who, "--grantee", "bank",
        "--purpose", "loan_approval", *cats, "--evidence", "my consent",
    )  # fmt: skip
    unbound = cli(gw, *consent)
    assert unbound.returncode == 1
    assert "bind-key" in unbound.stderr
    bound = cli(
        gw, "grant", "bind-key", "--as", "credit-office", "--subject", who, "--key", me.address
    )
    assert bound.returncode == 0, bound.stderr
    mine = cli(gw, *consent, "--json")
    assert mine.returncode == 0, mine.stderr
    assert cli(gw, *read, *cats).returncode == 0
    gone = cli(gw, "grant", "revoke", json.loads(mine.stdout)["grant_id"], "--as", "bank", *own,
               *own_pw)  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    assert cli(gw, *read, *cats).returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subject", "uscc:91610800MA0000106X"), "check character"),
        (("--subject", "nokind"), "KIND:ID"),
        (("--subject", "uscc:91610800MA0000106L", "--purpose", "no_such"), "--purpose"),
        (("--subject", "uscc:91610800MA0000106L", "--categories", "nope"), "--categories"),
        (("--record", "xyz"), "64 lowercase hex"),
    ],
)
def test_bad_read_arguments_are_one_line_usage_errors(
    gw: GatewayProcess, args: tuple[str, ...], message: str
) -> None:
    base = {"--purpose": "loan_approval", "--categories": "utility_arrears"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    r = cli(gw, "read", "--as", "bank", *[x for kv in {**base, **given}.items() for x in kv])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_consortium_orgs_are_the_ones_the_examples_name(gw: GatewayProcess) -> None:
    assert set(SUBMITTER.values()) <= set(load_consortium(gw.data_dir))
    assert os.path.exists(gw.data_dir / "keys" / "pepper")
