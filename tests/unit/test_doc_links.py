"""Every page the README (and the docs it links) points to lives in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATHLIKE = re.compile(r"`(\.\./[^`\s]+)`")


def _pages() -> list[Path]:
    return [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        REPO / "examples" / "README.md",
    ]


def test_every_relative_link_resolves_inside_the_repository() -> None:
    broken = []
    for page in _pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(REPO) or not path.exists():
                broken.append(f"{page.relative_to(REPO)} → {target}")
    assert broken == []


def test_no_page_points_outside_the_repository() -> None:
    outside = [
        f"{page.relative_to(REPO)} → {m}"
        for page in _pages()
        for m in PATHLIKE.findall(page.read_text())
        if not (page.parent / m).resolve().is_relative_to(REPO)
    ]
    assert outside == []
