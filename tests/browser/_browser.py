"""A real headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by npm
``playwright-core`` through ``driver.mjs`` (one JSON command per line), so that the flows read as
plain Python."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.mjs")
CHROMIUM = "/usr/bin/chromium"


def available() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if shutil.which("node") is None:
        return "node is missing"
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is missing (npm ci)"
    return None


class BrowserError(AssertionError):
    """A browser command failed (the message carries playwright's)."""


class Browser:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            cwd=ROOT,
        )

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser driver exited ({self.proc.poll()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BrowserError(f"{op} {args!r:.200}: {answer['error']}")
        return answer["result"]

    # -- conveniences ---------------------------------------------------------------------------

    def goto(self, url: str) -> Any:
        return self.call("goto", url=url)

    def fill(self, selector: str, value: str) -> None:
        self.call("fill", selector=selector, value=value)

    def click(self, selector: str) -> None:
        self.call("click", selector=selector)

    def text(self, selector: str) -> str:
        return str(self.call("text", selector=selector) or "")

    def attr(self, selector: str, name: str) -> str | None:
        value = self.call("attr", selector=selector, name=name)
        return None if value is None else str(value)

    def eval(self, expr: str, arg: Any = None) -> Any:
        return self.call("eval", expr=expr, arg=arg)

    def wait_for(self, selector: str, timeout: int = 30000) -> None:
        self.call("waitFor", selector=selector, timeout=timeout)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.call("screenshot", path=str(path))
        return path

    def requests(self) -> list[dict[str, str]]:
        got: list[dict[str, str]] = self.call("requests")
        return got

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError, ValueError):
            self.call("close")
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
