"""``creditchain network up|status|down``: the Yellow River network on one machine (one chain,
one gateway per city; gateway/_network.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._output import command, emit_json

network_app = typer.Typer(
    help="The Yellow River network on this machine: one chain, one gateway per city.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        show_default=False,
        help="The network's directory [default: <CREDITCHAIN_DATA_DIR or "
        "~/.local/share/creditchain>/network].",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _root(data_dir: Path | None) -> Path:
    from gateway._config import default_data_dir

    return (data_dir or default_data_dir() / "network").absolute()


@network_app.command("up")
@command
def up(
    cities: Annotated[
        str,
        typer.Option(
            help="Cities, comma-separated (yulin, lanzhou, yinchuan, hohhot, pingliang, yanan)."
        ),
    ] = "yulin,lanzhou,yinchuan,hohhot,pingliang,yanan",
    database_url_template: Annotated[
        str | None,
        typer.Option(
            help="Each city's database URL, with {city} or {code}, e.g. "
            "postgresql+psycopg://u:p@host/cc_{city} (default: SQLite in each city's dir)."
        ),
    ] = None,
    database_url: Annotated[
        list[str] | None,
        typer.Option(
            help="One city's database URL, CITY=URL (repeatable; wins over the template)."
        ),
    ] = None,
    port_base: Annotated[int, typer.Option(help="The first city's HTTP port.")] = 8701,
    chain_port: Annotated[
        int | None,
        typer.Option(help="The chain's JSON-RPC port [default: as before, else 8700]."),
    ] = None,
    max_merge_delay: Annotated[
        int, typer.Option(help="Seconds within which each gateway anchors every entry.")
    ] = 10,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Start one chain (state persisted; contracts deployed once) and one gateway per city,
    each with its own data dir, database, keys and development consortium; print the URLs.
    Running it again after `network down` resumes everything."""
    import time

    from gateway import _network

    root = _root(data_dir)
    chosen = _network.parse_cities(cities)
    urls: dict[str, str] = {}
    for item in database_url or []:
        slug, sep, url = item.partition("=")
        if not sep or not url:
            raise _network.NetworkError(f"--database-url wants CITY=URL, not {item!r}")
        urls[slug.strip().lower()] = url
    t0 = time.monotonic()
    state = _network.up(
        root,
        chosen,
        port_base=port_base,
        chain_port=chain_port,
        database_url_template=database_url_template,
        database_urls=urls,
        max_merge_delay=max_merge_delay,
        progress=(lambda _: None) if as_json else (lambda m: typer.echo(f"… {m}", err=True)),
    )
    took = round(time.monotonic() - t0, 1)
    if as_json:
        emit_json(
            {
                "root": state.root,
                "chain": state.chain_url,
                "seconds": took,
                "cities": {
                    s: {
                        "url": c.url,
                        "code": c.code,
                        "gateway": c.gateway_org,
                        "pid": c.pid,
                        "data_dir": c.data_dir,
                        "started_in": c.started_in,
                    }
                    for s, c in state.cities.items()
                },
            }
        )
        return
    typer.echo(f"chain      {state.chain_url}")
    for slug, c in state.cities.items():
        typer.echo(f"{slug:<10} {c.url}   (--data-dir {c.data_dir})")
    typer.echo(f"up in {took} s; `creditchain network status`, `creditchain network down`")


def _city_json(c: Any) -> dict[str, Any]:
    return {
        "url": c.url,
        "code": c.code,
        "gateway": c.gateway_org,
        "pid": c.pid,
        "data_dir": c.data_dir,
        "started_in": c.started_in,
    }


@network_app.command("status")
@command
def status(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Each city's gateway: process, health, log sizes (served / anchored on chain), memory.
    Exit 1 when the chain or a gateway is not running or not healthy."""
    from gateway import _network

    doc = _network.status(_root(data_dir))
    healthy = doc["chain"]["running"] and all(c["health"] == "ok" for c in doc["cities"].values())
    if as_json:
        emit_json({**doc, "healthy": healthy})
    else:
        chain = doc["chain"]
        typer.echo(f"chain      {chain['url']}  {'running' if chain['running'] else 'DOWN'}")
        for slug, c in doc["cities"].items():
            typer.echo(_row(slug, c))
    if not healthy:
        raise typer.Exit(1)


def _row(slug: str, c: dict[str, Any]) -> str:
    logs = "  ".join(
        f"{name} {v['size'] if v['size'] is not None else '?'}"
        f" (anchored {v['anchored'] if v['anchored'] is not None else '?'})"
        for name, v in c["logs"].items()
    )
    rss = f"{c['rss_kib'] / 1024:.0f} MiB" if c["rss_kib"] else "-"
    health = c["health"] if c["running"] else "DOWN"
    return f"{slug:<10} {c['url']:<24} {health!s:<11} {logs}  rss {rss}"


@network_app.command("down")
@command
def down(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Stop every gateway, then the chain (its state is saved); data dirs stay for the next up."""
    from gateway import _network

    stopped = _network.down(_root(data_dir))
    if as_json:
        emit_json({"stopped": stopped})
        return
    for what, how in stopped.items():
        typer.echo(f"{what:<10} {how}")
