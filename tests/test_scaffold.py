"""``syncd new connector NAME``: the package it writes installs with pip and passes the
conformance suite before its author changes a line, in a virtualenv of its own, offline.

The new virtualenv sees the syncd under test through a ``.pth`` line that adds this
interpreter's site folder (``--system-site-packages`` would give the base interpreter's, not
this virtualenv's), so nothing is downloaded: pip installs the generated package alone
(``--no-deps --no-build-isolation --no-index``) with the build backend already installed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.scaffold import Names, ScaffoldError, package_files, render

OFFLINE = ["--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check"]


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def virtualenv(folder: Path) -> Path:
    """A new virtualenv whose interpreter also sees this one's site folders; its python."""
    run(sys.executable, "-m", "venv", "--without-pip", folder, cwd=folder.parent)
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = run(python, "-c", where, cwd=folder)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # an ``import`` line in a .pth file runs: addsitedir also reads that folder's .pth files,
    # which is how an editable install of syncd is found
    lines = [f"import site; site.addsitedir({path!r})" for path in sorted(ours)]
    (Path(site.stdout.strip()) / "_syncd_under_test.pth").write_text("\n".join(lines) + "\n")
    return python


def test_a_new_connector_installs_and_passes_the_conformance_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "connector", "acme", "--dir", str(tmp_path / "work")]) == 0
    package = tmp_path / "work" / "syncd-acme"
    assert f"wrote {package}" in capsys.readouterr().out
    python = virtualenv(tmp_path / "venv")

    run(python, "-m", "pip", "install", "-q", *OFFLINE, "-e", package, cwd=tmp_path)
    # -P: the package is imported as installed, not from the current folder
    tested = run(python, "-P", "-m", "pytest", "-p", "no:cacheprovider", "-rA", cwd=package).stdout
    contract = "PASSED tests/test_conformance.py::TestAcmeConformance::test_"
    assert f"{contract}a_full_pull_reads_every_stream_to_its_end" in tested, tested
    assert f"{contract}a_push_takes_the_fewest_writes" in tested, tested
    assert "SKIPPED" not in tested and "FAILED" not in tested, tested

    # installed, it is found through its entry point like any connector
    listed = json.loads(run(python, "-P", "-m", "syncd", "plugins", "--json", cwd=package).stdout)
    found = {row["type"]: row for row in listed["connectors"]}
    assert found["acme"]["class"] == "syncd_acme.connector.AcmeConnector"
    assert listed["failures"] == []


def test_the_package_is_the_sample_under_the_new_name() -> None:
    files = package_files(Names.of("my_tool"))
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        "syncd_my_tool/__init__.py",
        "syncd_my_tool/connector.py",
        "syncd_my_tool/emulator.py",
        "tests/test_conformance.py",
    }
    sample = Path(__file__).parents[1] / "syncd" / "testing" / "sample"
    for module in ("__init__", "connector", "emulator"):  # the code, after the docstring
        ours = (sample / f"{module}.py").read_text().split('"""\n', 1)[1].splitlines()
        theirs = files[f"syncd_my_tool/{module}.py"].split('"""\n', 1)[1].splitlines()
        assert len(theirs) == len(ours)
        renamed = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
        assert renamed and all("sample" in a.lower() and "sample" not in b for a, b in renamed)
    assert files["tests/test_conformance.py"].endswith(
        "\n\n\nTestMyToolConformance = conformance_suite(MyToolHarness)\n"
    )
    assert 'my_tool = "syncd_my_tool"' in files["pyproject.toml"]
    assert "{{" not in files["pyproject.toml"] + files["README.md"]


def test_the_package_is_lint_clean(tmp_path: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed beside this interpreter")
    assert main(["new", "connector", "my_tool", "--dir", str(tmp_path)]) == 0
    run(ruff, "check", "--no-cache", ".", cwd=tmp_path / "syncd-my-tool")


def test_every_spelling_of_a_name() -> None:
    names = Names.of("my_tool")
    assert (names.package, names.dist, names.cls, names.title, names.const, names.host) == (
        "syncd_my_tool",
        "syncd-my-tool",
        "MyTool",
        "My Tool",
        "MY_TOOL",
        "my-tool",
    )


@pytest.mark.parametrize(
    "name", ["Acme", "acme-tool", "1acme", "acme__tool", "acme_", "_acme", "", "class", "sample"]
)
def test_a_name_that_is_not_a_slug_is_refused_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "connector", name, "--dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"invalid connector name {name!r}") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "syncd-acme" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("mine")
    assert main(["new", "connector", "acme", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"{tmp_path / 'syncd-acme'} already exists; remove it or choose another --dir\n"
    )
    assert [p.name for p in mine.parent.iterdir()] == ["notes.txt"]


def test_a_template_with_an_unknown_placeholder_is_an_error() -> None:
    assert render("{{ name }}-{{name}}", {"name": "acme"}) == "acme-acme"
    with pytest.raises(KeyError, match="unknown placeholder 'nmae'"):
        render("{{ nmae }}", {"name": "acme"})
    with pytest.raises(ScaffoldError):
        Names.of("ACME")


def test_a_folder_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["new", "connector", "acme", "--dir", str(blocker / "inside")]) == 2
    error = capsys.readouterr().err
    assert "cannot write under" in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
