"""Docstrings and comments cite sources an outside reader can open (a venue's public API page, a fixture under
``tests/fixtures/``, a library's source file), never the team's private notes, which are not in the repository:
their file names, or their section codes (``A2.4``, ``B3``, ``G2``; a ``§`` section that is not an RFC's or a
web page's)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trio_hedge"

NOTES = re.compile(r"wire-formats|reliability-notes|design\.md|style-anchors|peers\.md|(?:/work|\.\./)shared/")
"""The private notes by name or path."""

SECTION = re.compile(r"(?<![\w./#@-])[A-H][0-9]{1,2}(?:\.[0-9]{1,2})*(?![\w-])")
"""A section code of the notes (``A1``, ``A2.4``, ``B3``, ``G2``): a capital A-H and one or two digits, alone."""

NOT_SECTIONS = frozenset({"C0"})
"""Tokens of that shape that mean something else (``C0``: the C0 control characters)."""


def private_citations(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each private-note citation in the comments and string literals of ``source``."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        for n, line in enumerate(tok.string.splitlines(), start=tok.start[0]):
            hits = NOTES.findall(line) + [m for m in SECTION.findall(line) if m not in NOT_SECTIONS]
            if "§" in line and "RFC" not in line and "://" not in line:
                hits.append("§")
            found.extend((n, h) for h in hits)
    return found


@pytest.mark.parametrize("text", [
    '"""Sign and send (wire-formats A4.6)."""', "# cancel-on-disconnect (reliability-notes G3)",
    '"""Backpack REST routes (B3): markets."""', '"""The breaker rule (§3)."""', "x = 1  # see ../shared/docs",
])  # fmt: skip
def test_the_scanner_finds_each_kind_of_private_citation(text: str) -> None:
    assert private_citations(text + "\n")


@pytest.mark.parametrize("text", [
    '"""RFC 6455 §5.2 frames; https://sqlite.org/wal.html §2.2."""', '"""the C0 controls (\\\\b \\\\f)."""',
    '"""GRVT codes 1004, 2064; noqa: E501; 0xA1; key 2WYgf9fKibj9wUB1mMb9BpMgFZn; a P2 book; v1.book.d."""',
    "A2 = 3  # a name, not a citation",
])  # fmt: skip
def test_the_scanner_leaves_public_references_and_look_alikes_alone(text: str) -> None:
    assert private_citations(text + "\n") == []


def test_no_module_cites_the_private_notes() -> None:
    """Every source an outside reader cannot open is named, with its file and line."""
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}: {hit}" for path in modules
                 for line, hit in private_citations(path.read_text(encoding="utf-8"))]  # fmt: skip
    assert offenders == [], "cite a public page, a tests/fixtures/ file or a library's source instead:\n" + "\n".join(
        offenders)
