"""API fuzzing: schemathesis against the gateway's own OpenAPI document, in process.

A real gateway (embedded chain, SQLite, dev consortium) holding anchored and pending records and
access-log entries. Every operation gets ``FUZZ_EXAMPLES`` generated requests in the fuzzing
phase (plus the coverage phase's boundary cases), valid and invalid by the schema; then stateful
runs follow the OpenAPI links. No request may get a 5xx, and every response must conform to what
the OpenAPI document declares: a documented status, the declared content type
(``application/problem+json`` for every error) and schema, a correct ``Allow`` on a 405, and
schema-invalid requests refused. ``positive_data_acceptance`` is the one check left out: a
schema-valid request with a random signature is refused by design.

Random signatures never verify and random identifiers fail their check characters, so purely
generated requests end at the first parser. To reach further, hooks (deterministic in the
generated data, so Hypothesis replays them):

- put generated values on real ones where the generated value was schema-valid (so a case's
  validity is unchanged): known record ids, member org ids, subjects, purposes and categories,
  ``signed_at`` inside the replay window, and well-formed ``v``/low ``s`` in signatures — the
  signature, membership and chain lookups then run on fuzzed input;
- for some cases of ``POST /v1/records``, ``/v1/reads``, ``/v1/subjects/accesses``
  and ``/v1/verify``, send a real signed submission, read or subject query, or a real proof
  bundle instead, with one member replaced by a part of the generated body or removed (now and
  then unchanged); for ``/v1/audit/trace``, the auditor's real signature over the generated
  query — the parsers behind the signature check then see fuzzed input too.

``CREDITCHAIN_FUZZ_EXAMPLES`` (default 500) sets the fuzzing examples per operation; ``-s``
shows the requests per operation and phase (and, with ``CREDITCHAIN_FUZZ_REPORT=1``, the answers
per status and problem type).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from eth_account import Account
from eth_account.signers.local import LocalAccount
from schemathesis import Case, HookContext
from schemathesis.generation.hypothesis.builder import ApiOperationMark

from gateway._federation import Federation
from gateway._lifecycle import Lifecycle
from gateway._reads import Reader, subject_digest
from gateway._service import Gateway
from gateway.api import create_app
from gateway.client import ReaderClient
from gateway.domain.canonical import canonicalize
from gateway.domain.errors import CanonicalizationError
from gateway.domain.identifiers import parse_subject_id, subject_commitment
from gateway.domain.records import hex0x
from gateway.domain.signing import typed_signer
from tests.integration.conftest import Env, _running, chain_clock

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

FUZZ_EXAMPLES = int(os.environ.get("CREDITCHAIN_FUZZ_EXAMPLES", "500"))
STATEFUL_SCENARIOS = max(20, FUZZ_EXAMPLES // 10)

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": FUZZ_EXAMPLES, "database": "none"},
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)

# The OpenAPI document depends only on the routes, not on the gateway behind them: load it at
# import (pytest parametrizes at collection) from an app with no gateway; the fixture checks
# that the running gateway serves the same document (its deployment has a Directory, so the
# cross-city routes are there too).
OPENAPI: dict[str, Any] = create_app(
    cast(Gateway, None),
    cast(Reader, object()),
    cast(Lifecycle, object()),
    federation=cast(Federation, object()),
).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)

PHASES = ("examples", "coverage", "fuzzing", "stateful")
COUNTS: Counter[tuple[str, str]] = Counter()
"""(operation, phase) -> requests sent."""
ANSWERS: Counter[tuple[str, int, str]] = Counter()
"""(operation, status, problem type) -> answers to the stateless fuzz, shown with
``CREDITCHAIN_FUZZ_REPORT=1``."""


class Known:
    """Real values of the running gateway, for the hooks (set by the fixture; the coverage
    phase's cases are made at collection, before: the hooks leave those alone)."""

    records: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    subjects: tuple[dict[str, str], ...] = ()
    purposes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    bundle: dict[str, Any] = {}  # noqa: RUF012 - set once by the fixture
    clock: Callable[[], float] = staticmethod(lambda: 0.0)
    submission: Callable[[], dict[str, Any]] = staticmethod(dict)
    read: Callable[[], dict[str, Any]] = staticmethod(dict)
    subject_query: Callable[[], dict[str, Any]] = staticmethod(dict)
    audit: Callable[[Any], dict[str, Any]] = staticmethod(lambda _: {})


_HEX32_0X = re.compile(r"0x[0-9a-f]{64}")
_SIGNATURE = re.compile(r"0x[0-9a-f]{130}")
_RECORD_PATH = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_RECORD_BODY = re.compile(r"[0-9a-f]{64}")


def _digest(value: Any) -> bytes:
    """A hash of a generated value, for choices that Hypothesis must replay: ``signed_at``
    members are left out (the hooks set them from the clock)."""

    def stable(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: stable(x) for k, x in v.items() if k != "signed_at"}
        return [stable(x) for x in v] if isinstance(v, list) else v

    return hashlib.sha256(json.dumps(stable(value), sort_keys=True, default=repr).encode()).digest()


def _pick(options: tuple[Any, ...], seed: Any) -> Any:
    """About half the generated values map to a real one, chosen by the value itself."""
    h = _digest(seed)
    if not options or h[0] % 2:
        return None
    return options[h[1] % len(options)]


@schema.hook
def map_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> dict[str, Any] | None:
    if not Known.records:
        return path_parameters
    rid = (path_parameters or {}).get("record_id")
    if path_parameters and isinstance(rid, str) and _RECORD_PATH.fullmatch(rid):
        known = _pick(Known.records, rid)
        if known is not None:  # keep the generated form: 0x or not, upper or lower case
            known = known.upper() if any(c in "ABCDEF" for c in rid) else known
            path_parameters["record_id"] = ("0x" if rid.startswith("0x") else "") + known
    return path_parameters


def _realistic(doc: dict[str, Any]) -> None:
    """Real values for some schema-valid generated members of a request object."""
    for key, value in list(doc.items()):
        h = _digest([key, value])
        if key == "signed_at" and type(value) is int and value >= 0 and h[0] % 2:
            doc[key] = int(Known.clock()) - value % 250
        elif key in ("org", "requester", "auditor") and isinstance(value, str):
            if _HEX32_0X.fullmatch(value) and (known := _pick(Known.orgs, value)) is not None:
                doc[key] = known
        elif key in ("value", "signature") and isinstance(value, str):
            if _SIGNATURE.fullmatch(value) and h[0] % 2:  # r ‖ low s ‖ v ∈ {27, 28}
                doc[key] = (
                    value[:66] + "01234567"[h[1] % 8] + value[67:130] + ("1b", "1c")[h[2] % 2]
                )
        elif key == "record_id" and isinstance(value, str) and _RECORD_BODY.fullmatch(value):
            if (known := _pick(Known.records, value)) is not None:
                doc[key] = known
        elif key == "subject" and isinstance(value, dict) and set(value) == {"kind", "id"}:
            valid = value["kind"] in ("uscc", "resident_id") and isinstance(value["id"], str)
            if valid and (known := _pick(Known.subjects, value)) is not None:
                doc[key] = dict(known)
        elif key == "purpose" and isinstance(value, str):
            if (known := _pick(Known.purposes, value)) is not None:
                doc[key] = known
        elif key == "categories" and isinstance(value, list) and value and h[0] % 2:
            codes = Known.categories
            doc[key] = [codes[h[1 + i % 30] % len(codes)] for i in range(len(value))]


@schema.hook
def map_body(context: HookContext, body: Any) -> Any:
    if Known.records and isinstance(body, dict):
        _realistic(body)
        for nested in ("signature", "query"):
            if isinstance(body.get(nested), dict):
                _realistic(body[nested])
    return body


def _paths(doc: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _values(doc: Any) -> Iterator[Any]:
    yield doc
    if isinstance(doc, dict | list):
        for value in doc.values() if isinstance(doc, dict) else doc:
            yield from _values(value)


def _mutated(real: dict[str, Any], generated: Any) -> dict[str, Any]:
    """``real`` with one member (chosen by ``generated``) removed or replaced by a part of
    ``generated``; one time in sixteen unchanged."""
    h = _digest(generated)
    doc = copy.deepcopy(real)
    if h[0] % 16 == 0:
        return doc
    paths = [p for p in _paths(doc) if p]
    path = paths[int.from_bytes(h[1:5], "big") % len(paths)]
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    if h[5] % 8 == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        values = list(_values(generated))
        parent[path[-1]] = copy.deepcopy(values[int.from_bytes(h[6:10], "big") % len(values)])
    return doc


def _signed_audit(generated: dict[str, Any]) -> dict[str, Any]:
    """The auditor's real signature over the generated query (whatever it holds)."""
    try:
        return Known.audit(generated["query"])
    except (CanonicalizationError, KeyError):
        return generated


_REAL_BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "POST /v1/records": lambda g: _mutated(Known.submission(), g),
    "POST /v1/reads": lambda g: _mutated(Known.read(), g),
    "POST /v1/verify": lambda g: _mutated(Known.bundle, g),
    "POST /v1/subjects/accesses": lambda g: _mutated(Known.subject_query(), g),
    "POST /v1/audit/trace": _signed_audit,
}


@schema.hook
def map_case(context: HookContext, case: Case[Any]) -> Case[Any]:
    real = _REAL_BODIES.get(case.operation.label) if Known.records else None
    # not in the stateful runs, which choose their real submissions themselves; a case whose
    # body changes validity is re-classified by schemathesis (positive / negative) before
    # its checks run
    stateless = case.meta is not None and case.meta.phase.name.value != "stateful"
    if real and stateless and isinstance(case.body, dict) and _digest(case.body)[-1] % 2:
        case.body = real(case.body)
    return case


def _seed(env: Env) -> None:
    """Anchored and pending records, access-log entries, a subject key, and the hooks' real
    values and signers."""
    market, tax = env.client("market"), env.client("tax")
    receipts = market.submit([env.record("market") for _ in range(3)])
    receipts += tax.submit([env.record("tax", person=True)])
    first = env.record("market")
    receipts += market.submit([first])
    org = env.runtime.consortium["bank"]
    d = env.runtime.deployment
    bank = ReaderClient(
        env.url,
        org.account(),
        bytes.fromhex(org.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )
    catalog = env.runtime.gateway.catalog
    read = {
        "subject": first["subject"],
        "purpose": "loan_approval",
        "categories": ["admin_penalty"],
        "category_mask": catalog.category_mask(["admin_penalty"]),
    }
    bank.read(**read)
    env.anchor()
    receipts += market.submit([env.record("market") for _ in range(2)])  # not anchored: 202
    Known.records = tuple(r["leaf_hash"] for r in receipts)
    Known.orgs = tuple(o.org_id for o in env.runtime.consortium.values())
    Known.subjects = (first["subject"], env.record("tax", person=True)["subject"])
    Known.purposes = tuple(catalog.purposes)
    Known.categories = catalog.codes
    Known.bundle = env.http.get(f"{env.url}/v1/records/{receipts[0]['leaf_hash']}/proof").json()
    assert "leaf" in Known.bundle
    Known.clock = env.runtime.gateway.clock
    Known.submission = lambda: market.build([env.record("market")])
    Known.read = lambda: bank.build(**read)

    # the subject's own key, bound by the credit office; the auditor's key
    key: LocalAccount = Account.create()
    subject = parse_subject_id(first["subject"]["id"], kind=first["subject"]["kind"])
    env.runtime.deployment.grants(env.chain).bind_subject_key(
        env.runtime.consortium["credit-office"].account(),
        subject_commitment(env.runtime.secrets.pepper, subject),
        key.address,
    )
    domain = env.runtime.gateway.domain
    subject_sign = typed_signer(key, domain)
    auditor = env.runtime.consortium["auditor"]
    audit_sign = typed_signer(auditor.account(), domain)

    def subject_query() -> dict[str, Any]:
        salt, nonce, signed_at = os.urandom(32), os.urandom(32), int(chain_clock(env.chain))
        message = {
            "subjectDigest": subject_digest(salt, subject),
            "action": "accesses",
            "signedAt": signed_at,
            "nonce": nonce,
        }
        return {
            "subject": first["subject"],
            "subject_salt": salt.hex(),
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "signature": hex0x(subject_sign("SubjectQuery", message)),
        }

    def audit(query: Any) -> dict[str, Any]:
        nonce, signed_at = os.urandom(32), int(chain_clock(env.chain))
        message = {
            "auditor": bytes.fromhex(auditor.org_id[2:]),
            "queryHash": hashlib.sha256(canonicalize(query)).digest(),
            "signedAt": signed_at,
            "nonce": nonce,
        }
        return {
            "auditor": auditor.org_id,
            "query": query,
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "signature": hex0x(audit_sign("AuditQuery", message)),
        }

    Known.subject_query = subject_query
    Known.audit = audit


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    for env in _running(f"sqlite:///{tmp / 'gateway.db'}", tmp):
        assert env.runtime.app.openapi() == OPENAPI
        _seed(env)
        yield env
    rows = [f"{'operation':<40}" + "".join(f"{p:>10}" for p in PHASES)]
    for op in sorted({op for op, _ in COUNTS}):
        rows.append(f"{op:<40}" + "".join(f"{COUNTS[(op, p)]:>10}" for p in PHASES))
    print("\nrequests per operation and phase:\n" + "\n".join(rows), file=sys.stderr)
    if os.environ.get("CREDITCHAIN_FUZZ_REPORT"):
        for (op, status, slug), n in sorted(ANSWERS.items()):
            print(f"{op:<40}{status:>5} {slug:<28}{n:>6}", file=sys.stderr)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """schemathesis names each operation's item ``test_api_fuzz[METHOD path]``, but pytest 9.2
    builds node ids from the undecorated name, so all of them would share one id (and
    pytest-xdist would run only one): an ``operation`` parameter per item tells them apart."""
    if "operation" in metafunc.fixturenames:
        operation = ApiOperationMark.get(metafunc.function)
        assert operation is not None
        metafunc.parametrize("operation", [operation.label], ids=["op"], indirect=True)


NO_INPUTS = {"GET /v1/health"}
"""Operations with nothing to vary: one request is all there is."""


@pytest.fixture
def operation(request: pytest.FixtureRequest) -> Iterator[str]:
    """The item's operation; afterwards, that it got ``FUZZ_EXAMPLES`` fuzzing-phase requests.
    (Function-scoped on purpose: it is set up once per item, not per example.)"""
    label: str = request.param
    yield label
    if label not in NO_INPUTS:
        sent = COUNTS[(label, "fuzzing")]
        assert sent >= FUZZ_EXAMPLES, f"{label}: {sent} fuzzing examples, not {FUZZ_EXAMPLES}"


@schema.parametrize()
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_api_fuzz(case: Case[Any], fuzz_env: Env, operation: str) -> None:
    assert case.operation.label == operation
    phase = case.meta.phase.name.value if case.meta is not None else "?"
    COUNTS[(case.operation.label, phase)] += 1
    response = case.call_and_validate(app=fuzz_env.runtime.app)
    problem = response.headers.get("content-type", [""])[0] == "application/problem+json"
    slug = str(response.json().get("type", "")).rsplit("/", 1)[-1] if problem else ""
    ANSWERS[(case.operation.label, response.status_code, slug)] += 1


def _run_stateful(machine: Any, env: Env, *, submit_one_in: int = 0) -> int:
    """Run ``machine`` (from ``schema.as_state_machine()``) against ``env``; with
    ``submit_one_in``, about one in n schema-valid ``POST /v1/records`` carries a real signed
    submission instead, and the links from its receipts lead to a real record. Returns the
    number of requests sent."""
    app = env.runtime.app
    sent = Counter[str]()

    def real_submission(case: Case[Any]) -> bool:
        if not submit_one_in or case.operation.label != "POST /v1/records":
            return False
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return False
        return _digest(case.body)[0] % submit_one_in == 0  # replayable: no state involved

    class Machine(machine):  # type: ignore[misc]
        def before_call(self, case: Case[Any]) -> None:
            sent[case.operation.label] += 1
            COUNTS[(case.operation.label, "stateful")] += 1
            if real_submission(case):
                case.body = Known.submission()
            super().before_call(case)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"app": app}

    Machine.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=10,
            deadline=None,
            database=None,
        )
    )
    return sum(sent.values())


def _followed() -> set[str]:
    return {op for (op, phase), n in COUNTS.items() if phase == "stateful" and n}


def test_api_stateful_records(fuzz_env: Env) -> None:
    """Submission → receipt / public proof / opened proof (the links on its 200 and 201), every
    check on. A third of the schema-valid submissions are real signed ones, so that the links
    lead to real records."""
    assert _run_stateful(schema.as_state_machine(), fuzz_env, submit_one_in=3) > 0
    assert {
        "GET /v1/records/{record_id}/receipt",
        "GET /v1/records/{record_id}/proof",
        "POST /v1/records/{record_id}/proof",
    } <= _followed()


def test_api_stateful_logs(fuzz_env: Env) -> None:
    """Checkpoint → inclusion / consistency / leaves at the log's real size."""
    logs = schema.include(path_regex="^/v1/logs/")
    assert _run_stateful(logs.as_state_machine(), fuzz_env) > 0
    assert {
        "GET /v1/logs/{log}/inclusion",
        "GET /v1/logs/{log}/consistency",
        "GET /v1/logs/{log}/leaves",
    } <= _followed()
