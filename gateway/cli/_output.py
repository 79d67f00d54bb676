"""How the CLI talks: human text by default, JSON with --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from node.errors import NodeError

EXIT_FAILURE = 1
EXIT_USAGE = 2


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")
    sys.stdout.flush()


def _default(o: Any) -> Any:
    if isinstance(o, bytes):
        return "0x" + o.hex()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Turn the packages' errors into one line and exit 1; never a traceback for them."""
    try:
        yield
    except typer.Exit:
        raise
    except _known_errors() as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("CREDITCHAIN_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set CREDITCHAIN_DEBUG=1 for a traceback)")


def _known_errors() -> tuple[type[Exception], ...]:
    """Every package's exception root: their messages are written for users."""
    from gateway.domain.errors import DomainError
    from gateway.errors import GatewayError

    roots: list[type[Exception]] = [NodeError, GatewayError, DomainError]
    try:  # heavier packages: only if already imported by the command
        from gateway.store import StoreError
        from gateway.verify import VerifyError

        roots += [StoreError, VerifyError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(roots)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a command body inside errors_as_exit."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with errors_as_exit():
            return fn(*args, **kwargs)

    return wrapper


URL_ENV = "CREDITCHAIN_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
GatewayUrl = Annotated[
    str,
    typer.Option(
        "--url",
        envvar=URL_ENV,
        help="Gateway base URL (the flag wins over the environment).",
    ),
]
"""The ``--url`` option of every client command: the flag, else ``$CREDITCHAIN_URL``, else
:data:`DEFAULT_URL`."""
