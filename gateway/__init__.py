"""creditchain's gateway: the off-chain service, its domain logic, CLI and client."""

import importlib.util as _util
import sys as _sys
from typing import Any as _Any

RECURSION_LIMIT = 12 * 1024
"""The highest recursion limit the gateway lets stand: what py-evm sets for the EVM's 1,024
call frames (``eth/__init__.py``). Nothing in py_ecc needs its 100,000, which lets C code
(the ``json`` parser, on any input not pre-checked) recurse until the thread's stack
overflows and the process dies. At this limit such recursion ends in a RecursionError."""


def _cap_recursion() -> None:
    _sys.setrecursionlimit(min(_sys.getrecursionlimit(), RECURSION_LIMIT))


class _PyEccGuard:
    """py_ecc (it comes with web3 / py-evm) raises the recursion limit to 100,000 when first
    imported; undo it right after, whenever that happens — without importing py_ecc here
    (150 ms that `creditchain verify`, which never needs it, would pay at every start)."""

    def find_spec(self, fullname: str, path: _Any = None, target: _Any = None) -> _Any:
        if fullname != "py_ecc":
            return None
        _sys.meta_path.remove(self)
        spec = _util.find_spec(fullname)
        loader = None if spec is None else spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            exec_module = loader.exec_module

            def exec_and_cap(module: _Any) -> None:
                try:
                    exec_module(module)
                finally:
                    _cap_recursion()

            loader.exec_module = exec_and_cap  # type: ignore[method-assign]
        return spec


if "py_ecc" in _sys.modules:
    _cap_recursion()
else:
    _sys.meta_path.insert(0, _PyEccGuard())
_cap_recursion()
