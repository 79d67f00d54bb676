"""creditchain's gateway: the off-chain service, its domain logic, CLI and client."""

import contextlib as _contextlib
import sys as _sys

with _contextlib.suppress(ImportError):  # it comes with web3 / py-evm
    # py_ecc raises the recursion limit to 100,000 when first imported; undo it, once, here.
    import py_ecc as _py_ecc  # noqa: F401

RECURSION_LIMIT = 12 * 1024
"""The highest recursion limit the gateway lets stand: what py-evm sets for the EVM's 1,024
call frames (``eth/__init__.py``). Nothing in py_ecc needs its 100,000, which lets C code
(the ``json`` parser, on any input not pre-checked) recurse until the thread's stack
overflows and the process dies. At this limit such recursion ends in a RecursionError."""
_sys.setrecursionlimit(min(_sys.getrecursionlimit(), RECURSION_LIMIT))
