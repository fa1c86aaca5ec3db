"""Lines of connector code in plugins/, at a revision and now, per vendor.

    .venv/bin/python benchmarks/connector_lines.py [--base 62d0c79] [--files]

Connector code is every ``plugins/**/*.py`` but the emulators (``emulator*.py``) and the
tests (``test_*.py``, ``conftest.py``, ``tests/``). A line counts when it holds code: blank
lines, comments and docstrings (a string standing as a statement) do not. ``--base``
defaults to the last commit before the connector kit (62d0c79); the current count is the
working tree's tracked files.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tokenize
from collections import Counter
from pathlib import Path

BEFORE_THE_KIT = "62d0c79"
SKIPPED_TOKENS = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}
# after these a string token begins a statement: a docstring or a bare string
STATEMENT_START = {tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, None}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def connector_files(rev: str | None) -> list[str]:
    listed = (
        git("ls-tree", "-r", "--name-only", rev, "plugins") if rev else git("ls-files", "plugins")
    )
    found = []
    for path in listed.split():
        name = path.rsplit("/", 1)[-1]
        test_or_emulator = name.startswith(("test_", "emulator", "conftest"))
        if path.endswith(".py") and "/tests/" not in path and not test_or_emulator:
            found.append(path)
    return found


def code_lines(source: str) -> int:
    lines: set[int] = set()
    before: int | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and before in STATEMENT_START:
            before = token.type
            continue
        if token.type not in SKIPPED_TOKENS:
            lines.update(range(token.start[0], token.end[0] + 1))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            before = token.type
    return len(lines)


def count(rev: str | None, show_files: bool) -> Counter[str]:
    vendors: Counter[str] = Counter()
    for path in connector_files(rev):
        source = git("show", f"{rev}:{path}") if rev else Path(path).read_text()
        n = code_lines(source)
        vendors[path.split("/")[1] if path.count("/") > 1 else "-"] += n
        if show_files:
            print(f"  {n:5d} {path}")
    return vendors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=BEFORE_THE_KIT)
    parser.add_argument("--files", action="store_true", help="each file's count too")
    args = parser.parse_args()
    before, now = count(args.base, args.files), count(None, args.files)
    print(f"{'vendor':16} {args.base:>8} {'now':>8} {'change':>8}")
    for vendor in sorted((before | now).keys() - {"-"}):
        change = (now[vendor] - before[vendor]) / before[vendor] if before[vendor] else 0.0
        print(f"{vendor:16} {before[vendor]:8d} {now[vendor]:8d} {change:+8.1%}")
    total_before, total_now = sum(before.values()), sum(now.values())
    change = (total_now - total_before) / total_before
    print(f"{'all':16} {total_before:8d} {total_now:8d} {change:+8.1%}")


if __name__ == "__main__":
    main()
