"""`creditchain network up|status|down`: the Yellow River network on one machine — one local
chain, and one gateway process per city, each with its own data directory, database, keys and
development consortium, registered by its city's registrar and listed (when the deployment has
a ``Directory``) with its URL.

Layout of the network directory ``N``::

    N/chain/              the one chain: anvil state, deployment manifest (`creditchain chain up`)
    N/keys/deployer.json  the consortium admin (deploys; makes each city's registrar)
    N/keys/pepper         the network pepper, copied into every city (one pepper per network)
    N/<city>/             a city's gateway data dir (`--data-dir` for every other command):
                          keys, consortium.json, gateway.db, serve.log, and chain/ with a copy
                          of the manifest and the chain's node.json
    N/network.json        what runs: the chain's and each gateway's pid, port and URL
    N/chain.log           `chain up`'s output

Every process is started in its own session, so it outlives the `network up` command;
`network down` ends exactly the pids recorded in ``network.json`` (each checked against its
start time first, so a reused pid is never signalled). Restarting keeps everything: the chain
resumes from its state file, each city from its data dir and database.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway._devnet import CITIES, City, bootstrap, load_consortium
from gateway._keys import load_secrets
from gateway.domain.records import log_id
from gateway.errors import NetworkError
from node import Chain, ChainPaths, Deployment, connect, running_node
from node._accounts import private_dir
from node._local import deployer_account

NETWORK_FILE = "network.json"
DEFAULT_CITIES = tuple(CITIES)
DEFAULT_PORT_BASE = 8701
DEFAULT_CHAIN_PORT = 8700
_DEV_MARK = "creditchain-development-only"
_LOG_NAMES = ("records", "access")


@dataclass
class CityProcess:
    slug: str
    code: int
    port: int
    url: str
    data_dir: str
    gateway_org: str
    pid: int | None = None
    database_url: str | None = None
    started_in: float | None = None
    """Seconds from spawn to a healthy `/v1/health` at the last start."""
    pid_started: int | None = None
    """The process's start time (:func:`started_at`): with the pid, it names it."""


@dataclass
class NetworkState:
    root: str
    chain_url: str
    chain_port: int
    chain_pid: int | None
    manifest: str
    cities: dict[str, CityProcess] = field(default_factory=dict)
    started_at: float = 0.0
    chain_started: int | None = None
    """The chain process's start time (:func:`started_at`): with the pid, it names it."""

    def save(self) -> None:
        path = Path(self.root) / NETWORK_FILE
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # database URLs
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, root: Path) -> NetworkState:
        path = root / NETWORK_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise NetworkError(
                f"no network at {root}: start one with `creditchain network up`"
            ) from None
        except ValueError as exc:
            raise NetworkError(f"{path} is malformed: {exc}") from exc
        cities = {k: CityProcess(**v) for k, v in doc.pop("cities").items()}
        return cls(**doc, cities=cities)


def parse_cities(value: str | Sequence[str]) -> list[City]:
    """City slugs (comma-separated or a list), each once, in the order given."""
    names = [n.strip().lower() for n in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CITIES]
    if unknown or not names:
        raise NetworkError(
            f"unknown cities {', '.join(unknown) or '(none)'}; the network has {', '.join(CITIES)}"
        )
    if len(set(names)) != len(names):
        raise NetworkError("a city is named twice")
    return [CITIES[n] for n in names]


def _cli() -> list[str]:
    """The `creditchain` command of this interpreter (no PATH needed)."""
    return [sys.executable, "-c", "from gateway.cli import main; main()"]


def started_at(pid: int | None) -> int | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22): with the
    pid, it names one process for good — a reused pid has another start time."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):  # exited, not reaped yet
        return None
    return int(fields[19])


def _alive(pid: int | None, started: int | None) -> bool:
    """``pid`` is still the process recorded as started at ``started``, and running."""
    return started is not None and started_at(pid) == started


def rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` (``VmRSS``), KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _spawn(
    args: list[str], log: Path, env: Mapping[str, str | None] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (it outlives this command), output to ``log``;
    ``env`` sets (or, with ``None``, removes) variables of this process's environment."""
    merged = {**os.environ, **(env or {})}
    private_dir(log.parent)
    with open(log, "ab") as out:
        out.write(f"\n===== start at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        out.flush()
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={k: v for k, v in merged.items() if v is not None},
        )


def _network_pepper(root: Path) -> str:
    path = root / "keys" / "pepper"
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{secrets.token_hex(32)} {_DEV_MARK}\n")
    return path.read_text()


def _local_chain(url: str) -> Chain:
    """The network's own anvil, with its faucet (``anvil_setBalance``) for development funds."""
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))

    def faucet(address: Any, wei: int) -> None:
        w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]

    chain = Chain(w3, kind="anvil", url=url, faucet=faucet)
    chain.chain_id  # noqa: B018 - fail now if it is unreachable
    return chain


def _start_chain(root: Path, port: int, timeout: float) -> tuple[int | None, str]:
    paths = ChainPaths(root)
    info = running_node(paths)
    if info is not None:
        return int(info["pid"]), str(info["url"])
    proc = _spawn(
        [*_cli(), "chain", "up", "--data-dir", str(root), "--port", str(port)],
        root / "chain.log",
    )
    deadline = time.monotonic() + timeout
    while True:
        info = running_node(paths)
        if info is not None and paths.manifest.exists():
            return proc.pid, str(info["url"])
        if proc.poll() is not None:
            raise NetworkError(
                f"the chain did not start (exit {proc.returncode}); see {root / 'chain.log'}"
            )
        if time.monotonic() > deadline:
            raise NetworkError(
                f"the chain did not start in {timeout:.0f} s; see {root / 'chain.log'}"
            )
        time.sleep(0.2)


def _city_registrar(
    chain: Chain, deployment: Deployment, admin: Any, city: City, data_dir: Path
) -> Any:
    """The account that registers ``city``'s members: the city's own registrar (a keystore in
    its data dir, made registrar of that city alone by the consortium admin)."""
    membership = deployment.membership(chain)
    from node import create_keystore, load_keystore

    keys = data_dir / "keys"
    keystore, password_file = keys / "registrar.json", keys / "registrar.password"
    if not password_file.exists():
        private_dir(keys)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18) + "\n")
    password = password_file.read_text().strip()
    account = (
        load_keystore(keystore, password)
        if keystore.exists()
        else create_keystore(keystore, password, scrypt_n=2**14)
    )
    if not membership.is_registrar(account.address, city.code):
        chain.fund(account.address, 10**22)
        membership.grant_city_registrar(admin, city.code, account.address)
    return account


def _list_in_directory(
    chain: Chain, deployment: Deployment, signer: Any, gateway_org: bytes, url: str
) -> None:
    """Publish the gateway's URL in the on-chain Directory (if the deployment has one)."""
    if "Directory" not in deployment.contracts:
        return
    directory = deployment.directory(chain)
    with contextlib.suppress(Exception):
        if directory.endpoint_of(gateway_org).url == url:
            return
    directory.set_endpoint(signer, gateway_org, url)


def prepare_city(
    root: Path,
    city: City,
    chain: Chain,
    deployment: Deployment,
    admin: Any,
    pepper: str,
    url: str,
    chain_info: Mapping[str, Any],
) -> bytes:
    """Everything a city's gateway needs before it starts (idempotent): its data dir, the
    network pepper, keys, its consortium registered by its registrar, its logs, the manifest
    and the chain's node file, its Directory entry. Returns the gateway org id."""
    data = root / city.slug
    private_dir(data)
    keys = data / "keys"
    private_dir(keys)
    pepper_file = keys / "pepper"
    if not pepper_file.exists():
        fd = os.open(pepper_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pepper)
    elif pepper_file.read_text().split()[:1] != pepper.split()[:1]:
        raise NetworkError(f"{pepper_file} is not the network's pepper")
    secrets_ = load_secrets(keys, dev=True)
    try:
        consortium = bootstrap(
            data,
            chain,
            deployment,
            lambda: _city_registrar(chain, deployment, admin, city, data),
            secrets_,
            city,
            log_admin=lambda: admin,
        )
    finally:
        secrets_.keks.release()
    gateway = consortium["gateway"].org_id
    (data / "gateway.json").write_text(json.dumps({"org_id": gateway}) + "\n")
    private_dir(data / "chain")
    shutil.copyfile(deployment_path(root), data / "chain" / "deployment.json")
    (data / "chain" / "node.json").write_text(json.dumps(dict(chain_info)) + "\n")
    org = bytes.fromhex(gateway[2:])
    _list_in_directory(chain, deployment, secrets_.signer, org, url)
    return org


def ensure_database(url: str) -> bool:
    """Create a city's PostgreSQL database if the server lacks it (its role may create
    databases); SQLite files are created by the gateway itself. Returns whether it created."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return False
    admin = sa.create_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            ).first()
            if exists:
                return False
            quoted = parsed.database.replace('"', '""')
            conn.exec_driver_sql(f'CREATE DATABASE "{quoted}"')
            return True
    except sa.exc.SQLAlchemyError as exc:
        raise NetworkError(
            f"cannot reach or create the database {parsed.render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        admin.dispose()


def deployment_path(root: Path) -> Path:
    return ChainPaths(root).manifest


def up(
    root: Path,
    cities: Sequence[City] = tuple(CITIES.values()),
    *,
    port_base: int = DEFAULT_PORT_BASE,
    chain_port: int | None = None,
    host: str = "127.0.0.1",
    database_url_template: str | None = None,
    database_urls: Mapping[str, str] | None = None,
    max_merge_delay: int = 10,
    timeout: float = 300.0,
    progress: Callable[[str], None] = lambda _: None,
) -> NetworkState:
    """Start (or resume) the chain and one gateway per city; wait until every one is healthy.

    A city keeps the port it had (``network.json``), the chain too unless ``chain_port`` is
    given; a new city takes the first free of ``port_base``, ``port_base + 1``, ….
    ``database_url_template`` names each city's database with ``{city}`` (slug) or
    ``{code}``; ``database_urls`` (city slug → URL) names one city's database and wins over
    the template; default: SQLite in the city's data dir.
    """
    private_dir(root)
    unknown = sorted(set(database_urls or {}) - {c.slug for c in cities})
    if unknown:
        raise NetworkError(f"--database-url names a city not started: {', '.join(unknown)}")
    if (
        database_url_template is not None
        and "{city}" not in database_url_template
        and ("{code}" not in database_url_template)
    ):
        raise NetworkError("--database-url-template must contain {city} or {code}")
    try:
        previous: NetworkState | None = NetworkState.load(root)
    except NetworkError:
        previous = None
    if previous is not None:
        running = [c.slug for c in previous.cities.values() if _alive(c.pid, c.pid_started)]
        if running:
            raise NetworkError(
                f"the network at {root} is running ({', '.join(running)}): "
                "`creditchain network status`, or `network down` first"
            )
    t0 = time.monotonic()
    progress("starting the chain")
    rpc_port = chain_port or (previous.chain_port if previous else DEFAULT_CHAIN_PORT)
    chain_pid, chain_url = _start_chain(root, rpc_port, timeout)
    chain = _local_chain(chain_url)
    deployment = Deployment.load(deployment_path(root))
    deployment.check(chain)
    admin = deployer_account(ChainPaths(root))
    pepper = _network_pepper(root)
    chain_info = running_node(ChainPaths(root)) or {"url": chain_url, "pid": chain_pid}
    state = NetworkState(
        root=str(root),
        chain_url=chain_url,
        chain_port=int(chain_url.rsplit(":", 1)[1]),
        chain_pid=chain_pid,
        chain_started=started_at(chain_pid),
        manifest=str(deployment_path(root)),
        started_at=time.time(),
        cities=dict(previous.cities) if previous else {},
    )
    state.save()  # from now on `network down` finds the chain, whatever fails next
    taken = {c.port for c in state.cities.values()}
    next_port = port_base
    for city in cities:
        old = previous.cities.get(city.slug) if previous else None
        if old is not None:
            port = old.port
        else:
            while next_port in taken:
                next_port += 1
            port = next_port
            taken.add(port)
        url = f"http://{host}:{port}"
        progress(f"preparing {city.name_en} ({city.code})")
        org = prepare_city(root, city, chain, deployment, admin, pepper, url, chain_info)
        db = (
            (database_urls or {}).get(city.slug)
            or (
                database_url_template.format(city=city.slug, code=city.code)
                if database_url_template
                else None
            )
            or (old.database_url if old else None)
        )
        if db:
            ensure_database(db)
        state.cities[city.slug] = CityProcess(
            city.slug, city.code, port, url, str(root / city.slug), "0x" + org.hex(),
            database_url=db,
        )  # fmt: skip
    chain.close()
    spawned: dict[str, float] = {}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for c in (state.cities[city.slug] for city in cities):
        args = [
            *_cli(), "serve", "--dev", "--data-dir", c.data_dir, "--host", host,
            "--port", str(c.port), "--rpc", chain_url, "--manifest", state.manifest,
            "--confirmations", "0", "--max-merge-delay", str(max_merge_delay),
        ]  # fmt: skip
        # the database URL (and its password) by the environment, not on the process list
        env = {"CREDITCHAIN_DATABASE_URL": c.database_url}  # None: SQLite, whatever is set
        procs[c.slug] = _spawn(args, Path(c.data_dir) / "serve.log", env)
        c.pid = procs[c.slug].pid
        c.pid_started = started_at(c.pid)
        spawned[c.slug] = time.monotonic()
        progress(f"started {c.slug} (pid {c.pid}) on {c.url}")
    state.save()
    _wait_healthy({s: state.cities[s] for s in spawned}, procs, spawned, t0 + timeout)
    state.save()
    return state


def _wait_healthy(
    cities: Mapping[str, CityProcess],
    procs: Mapping[str, subprocess.Popen[bytes]],
    spawned: Mapping[str, float],
    deadline: float,
) -> None:
    waiting = dict(cities)
    with httpx.Client(timeout=2.0) as http:
        while waiting:
            for slug, c in list(waiting.items()):
                if procs[slug].poll() is not None:
                    raise NetworkError(
                        f"the {slug} gateway exited during start-up (exit "
                        f"{procs[slug].returncode}); see {c.data_dir}/serve.log"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{c.url}/v1/health").status_code == 200:
                        c.started_in = round(time.monotonic() - spawned[slug], 2)
                        del waiting[slug]
            if waiting and time.monotonic() > deadline:
                raise NetworkError(
                    f"not healthy in time: {', '.join(waiting)} (see each city's serve.log)"
                )
            time.sleep(0.2)


def status(root: Path) -> dict[str, Any]:
    """Each city's gateway: process, health, log sizes served and anchored on chain, memory."""
    state = NetworkState.load(root)
    chain_up = _alive(state.chain_pid, state.chain_started)
    out: dict[str, Any] = {
        "root": str(root),
        "chain": {"url": state.chain_url, "pid": state.chain_pid, "running": chain_up},
        "cities": {},
    }
    log_client = None
    listed: dict[str, str] = {}
    if chain_up:
        with contextlib.suppress(Exception):
            chain = connect(state.chain_url)
            deployment = Deployment.load(Path(state.manifest))
            log_client = deployment.checkpoint_log(chain)
            entries = deployment.directory(chain).entries()
            listed = {"0x" + e.gateway_org.hex(): e.url for e in entries.values()}
    with httpx.Client(timeout=3.0) as http:
        for slug, c in state.cities.items():
            running = _alive(c.pid, c.pid_started)
            row: dict[str, Any] = {
                "code": c.code,
                "url": c.url,
                "pid": c.pid if running else None,
                "running": running,
                "gateway": c.gateway_org,
                "health": None,
                "logs": {},
                "rss_kib": rss_kib(c.pid) if running and c.pid else None,
                "serve_log_bytes": _size(Path(c.data_dir) / "serve.log"),
                "database": "sqlite" if not c.database_url else c.database_url.split(":")[0],
                "started_in": c.started_in,
                "directory_url": listed.get(c.gateway_org),
            }
            if running:
                try:
                    h = http.get(f"{c.url}/v1/health")
                    row["health"] = (
                        h.json().get("status") if h.status_code == 200 else h.status_code
                    )
                except (httpx.HTTPError, ValueError):
                    row["health"] = "unreachable"
            org = bytes.fromhex(c.gateway_org[2:])
            for name in _LOG_NAMES:
                entry: dict[str, Any] = {"size": None, "anchored": None}
                if row["health"] == "ok":
                    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                        cp = http.get(f"{c.url}/v1/logs/{name}/checkpoint").json()
                        entry["size"] = int(cp.get("size", cp.get("tree_size", 0)))
                if log_client is not None:
                    with contextlib.suppress(Exception):
                        anchored = log_client.latest(log_id(org, name))
                        entry["anchored"] = anchored.size if anchored else 0
                row["logs"][name] = entry
            out["cities"][slug] = row
    return out


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def down(root: Path, *, timeout: float = 30.0) -> dict[str, str]:
    """SIGTERM every recorded gateway, then the chain (it saves its state); SIGKILL whatever
    is still running after ``timeout``. Only pids whose command line names this network's
    directories are signalled."""
    state = NetworkState.load(root)
    stopped: dict[str, str] = {}
    gateways = {s: c for s, c in state.cities.items() if _alive(c.pid, c.pid_started)}
    for c in gateways.values():
        assert c.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(c.pid, signal.SIGTERM)
    for slug, c in state.cities.items():
        stopped[slug] = _reap(c.pid, c.pid_started, timeout) if slug in gateways else "not running"
        c.pid = c.pid_started = None
    if _alive(state.chain_pid, state.chain_started):
        assert state.chain_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.chain_pid, signal.SIGTERM)
        stopped["chain"] = _reap(state.chain_pid, state.chain_started, timeout)
    else:
        stopped["chain"] = "not running"
    state.chain_pid = state.chain_started = None
    state.save()
    return stopped


def _reap(pid: int | None, started: int | None, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while _alive(pid, started):
        if time.monotonic() > deadline:
            assert pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            return "killed"
        time.sleep(0.1)
    return "stopped"


def consortium_of(root: Path, city: str) -> dict[str, Any]:
    """A city's development consortium (slug → org id), for the CLI's summaries."""
    return {slug: o.org_id for slug, o in load_consortium(root / city).items()}


__all__ = [
    "DEFAULT_CITIES",
    "NetworkError",
    "NetworkState",
    "down",
    "parse_cities",
    "status",
    "up",
]
