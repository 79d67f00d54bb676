"""The one mapping from errors to RFC 9457 problems (issue 9, part of finding 11): one problem
type per kind of error, and each type always with the same status."""

from __future__ import annotations

import json
from collections import defaultdict

from gateway import errors as g
from gateway.api import _problems
from gateway.domain import errors as d


def _answer(exc: Exception) -> tuple[int, str]:
    response = _problems.to_problem(exc)
    body = json.loads(bytes(response.body))
    assert body["type"].startswith(_problems.PROBLEM_BASE)
    return response.status_code, body["type"].removeprefix(_problems.PROBLEM_BASE)


def test_each_problem_type_has_one_status() -> None:
    statuses: dict[str, set[int]] = defaultdict(set)
    for cls, status, _ in _problems._TABLE:
        code = _problems._KIND.get(cls) or str(getattr(cls, "code", "error"))
        statuses[code].add(status)
    statuses["not-found"].add(404)  # an unknown path (Starlette's 404)
    statuses["invalid-parameter"].add(400)  # a path or query parameter FastAPI refused
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {}


def test_one_type_per_kind() -> None:
    assert (
        _answer(g.MalformedRequest("x"))
        == _answer(d.MalformedObject("/a", "x"))
        == (
            422,
            "malformed-request",
        )
    )
    assert _answer(g.RecordNotFound("x")) == _answer(g.RepairNotFound("x")) == (404, "not-found")
    assert _answer(g.InvalidParameter("x")) == (400, "invalid-parameter")
    assert _answer(g.UnsupportedMediaType("x")) == (415, "unsupported-media-type")
