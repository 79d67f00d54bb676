"""A real ``creditchain serve --dev`` process under hostile bodies (issue 9, finding 1): a
body of 100,000 ``[`` then 100,000 ``]`` killed the process with SIGSEGV, and its anvil with
it. Now each such body is a 400 problem and both processes live on."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e._gateway_proc import GatewayProcess, fixed_port, pid_running

PROBLEM = "https://creditchain.example/problems/"
BODIES = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "unclosed": b"[" * 200_000,
}
ROUTES = ("/v1/records", "/v1/verify", "/v1/reads", "/v1/audit/trace", "/v1/objections/query")


def test_deep_bodies_are_refused_and_the_gateway_and_its_chain_stay_up(tmp_path: Path) -> None:
    port = fixed_port()
    chain_port = next(p for p in iter(fixed_port, None) if p != port)
    gw = GatewayProcess(tmp_path / "data", port, chain_port, log_path=tmp_path / "serve.log")
    try:
        gw.spawn()
        gw.wait_healthy(timeout=180)
        anvils = gw.track_anvil()
        assert anvils, "serve --dev runs its anvil as a child"
        with httpx.Client(timeout=60) as http:
            for route in ROUTES:
                for name, body in BODIES.items():
                    answer = http.post(
                        gw.url + route, content=body, headers={"content-type": "application/json"}
                    )
                    assert answer.status_code == 400, (route, name, answer.text[:300])
                    assert answer.json()["type"] == PROBLEM + "invalid-json"
                    assert "nested deeper" in answer.json()["detail"]
            assert gw.proc is not None
            assert gw.proc.poll() is None, gw.log_tail()
            assert all(pid_running(a) for a in anvils), "the anvil child died"
            health = http.get(gw.url + "/v1/health")
            assert health.status_code == 200
            # the chain answers too: the gateway reads its checkpoint from the chain
            assert http.get(gw.url + "/v1/logs/records/checkpoint").status_code == 200
            rpc = http.post(
                f"http://127.0.0.1:{chain_port}",
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            )
            assert rpc.status_code == 200
            assert "result" in rpc.json()
    finally:
        gw.close()
