"""``syncd new connector NAME``: an installable connector package that passes the conformance
suite before its author changes a line.

The package is syncd's sample connector (``syncd.testing.sample``) under the new name, not a
second copy of it: its modules are read from the installed sample and renamed, so the one
reference implementation that syncd's own tests prove against the suite is what every new
connector starts from. Only what the sample has no file for (``pyproject.toml``, the README)
comes from the small templates in ``template/`` (``*.tmpl``), whose ``{{ key }}`` placeholders
``render`` fills. See docs/plugins.md, "From the scaffold to a working connector".
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SAMPLE_PACKAGE = "syncd.testing.sample"

# each module of the sample, and the file it becomes in the new package ({package} filled in)
FROM_SAMPLE = {
    "__init__.py": "{package}/__init__.py",
    "connector.py": "{package}/connector.py",
    "emulator.py": "{package}/emulator.py",
    "harness.py": "tests/test_conformance.py",  # the harness, plus the suite's one line
}
# the sample's own words that do not hold in a new package, and what stands in their place
DOCSTRINGS = {
    "__init__.py": "The {title} connector and its emulator, registered with syncd through the\n"
    "``syncd_connectors`` and ``syncd_emulators`` hooks.",
}
TEMPLATES = ("pyproject.toml", "README.md")  # from template/NAME.tmpl


class ScaffoldError(ValueError):
    """A name or a folder the scaffold refuses; the message is one line."""


@dataclass(frozen=True, slots=True)
class Names:
    """Every spelling of a connector's name: ``my_tool`` is the type in the YAML, the package
    ``syncd_my_tool``, the distribution ``syncd-my-tool``, the classes ``MyTool...``."""

    name: str

    @classmethod
    def of(cls, name: str) -> Names:
        if not NAME.fullmatch(name) or len(name) > 40:
            raise ScaffoldError(
                f"invalid connector name {name!r}: use lower-case letters, digits and single "
                "underscores, starting with a letter (such as acme or my_tool)"
            )
        if keyword.iskeyword(name) or name == "sample":
            raise ScaffoldError(f"invalid connector name {name!r}: choose the vendor's name")
        return cls(name)

    @property
    def package(self) -> str:
        return f"syncd_{self.name}"

    @property
    def dist(self) -> str:
        return f"syncd-{self.host}"

    @property
    def host(self) -> str:
        return self.name.replace("_", "-")

    @property
    def cls(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def title(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("_"))

    @property
    def const(self) -> str:
        return self.name.upper()

    def values(self) -> dict[str, str]:
        """The template placeholders."""
        keys = ("name", "package", "dist", "host", "cls", "title", "const")
        return {key: getattr(self, key) for key in keys}


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``{{ key }}`` replaced by its value (an unknown key is an error)."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"the template names an unknown placeholder {key!r}")
        return values[key]

    return PLACEHOLDER.sub(fill, text)


def renamed(source: str, names: Names) -> str:
    """A module of the sample under the new name: its imports, its host, its classes."""
    text = source
    for old, new in (
        (f"{SAMPLE_PACKAGE}.", f"{names.package}."),
        ("api.sample.test", f"api.{names.host}.test"),
        ("Sample CRM", f"{names.title} CRM"),
        ("Sample", names.cls),
        ("SAMPLE", names.const),
        ("sample", names.name),
    ):
        text = text.replace(old, new)
    return text


def as_test_module(harness: str, names: Names) -> str:
    """The renamed harness module, with the line that asks the suite for its tests."""
    importing = re.compile(r"(?m)^from syncd\.testing import (.+)$")
    found = importing.search(harness)
    if found is None:
        raise ScaffoldError("the sample harness no longer imports from syncd.testing")
    # in isort's order: constants, classes, functions
    names_in = {*found.group(1).split(", "), "conformance_suite"}
    imported = sorted(names_in, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    text = importing.sub(f"from syncd.testing import {', '.join(imported)}", harness, count=1)
    suite = f"Test{names.cls}Conformance = conformance_suite({names.cls}Harness)"
    return text.rstrip("\n") + f"\n\n\n{suite}\n"


def with_docstring(source: str, docstring: str) -> str:
    """``source`` with its module docstring replaced by ``docstring``."""
    body = ast.parse(source).body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        raise ScaffoldError("a module of the sample lost its docstring")
    rest = source.splitlines(keepends=True)[body[0].end_lineno or 1 :]
    return f'"""{docstring}"""\n' + "".join(rest)


def package_files(names: Names) -> dict[str, str]:
    """The new package's files by their path in it."""
    sample = resources.files("syncd.testing") / "sample"
    templates = resources.files("syncd.scaffold") / "template"
    files: dict[str, str] = {}
    for module, target in FROM_SAMPLE.items():
        text = renamed(sample.joinpath(module).read_text(encoding="utf-8"), names)
        if module in DOCSTRINGS:
            text = with_docstring(text, DOCSTRINGS[module].format(title=names.title))
        if module == "harness.py":
            text = as_test_module(text, names)
        files[target.format(package=names.package)] = text
    for template in TEMPLATES:
        text = templates.joinpath(f"{template}.tmpl").read_text(encoding="utf-8")
        files[template] = render(text, names.values())
    return files


def new_connector(name: str, directory: Path) -> Path:
    """Write the package of connector ``name`` in ``directory``; return its folder."""
    names = Names.of(name)
    root = directory / names.dist
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another --dir")
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"--dir {directory} is not a folder")
    files = package_files(names)  # everything is made before anything is written
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
