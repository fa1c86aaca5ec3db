"""Config mistakes through the real CLI: exit 2 and one line ``FILE:LINE: path: message``.

Each case edits the sample config (config/syncd.yaml) in one place; the line a message must
name is found in the edited text by a marker, so the tests follow the sample when it changes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.config import load_config

SAMPLE_MAPPING = "      loyal_customers: LOYAL\n"


pytestmark = pytest.mark.usefixtures("clean_env")


@dataclass
class Mistake:
    """One edit of the sample config and what ``syncd check`` must say about it."""

    edit: Callable[[str], str]
    marker: str  # the text of the line the message must name (its first occurrence)
    path: str  # the YAML path the message must name
    message: str  # a regular expression the message must begin with
    # a secret not set is a mistake only where a connector opens: check --connect
    args: tuple[str, ...] = ("check",)


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"the sample config no longer contains {old!r}"
        return text.replace(old, new, 1)

    return edit


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


MISTAKES: dict[str, Mistake] = {
    "unknown top-level key": Mistake(
        append("colour: blue\n"), "colour: blue", "colour", r"unknown key 'colour'"
    ),
    "unknown key in a destination": Mistake(
        replace("    mode: managed\n", "    mode: managed\n    colour: red\n"),
        "colour: red",
        "destinations[0].colour",
        r"unknown key 'colour'",
    ),
    "wrong type: mode: 5": Mistake(
        replace("mode: managed", "mode: 5"),
        "mode: 5",
        "destinations[0].mode",
        r"should be 'managed', 'mirror' or 'add_only' \(got 5\)",
    ),
    "a list where a mapping goes": Mistake(
        replace("store:\n  url: sqlite:///../var/syncd.db\n", "store: [sqlite]\n"),
        "store: [sqlite]",
        "store",
        r"should be a mapping \(got \['sqlite'\]\)",
    ),
    "a scalar where a connector instance goes": Mistake(
        replace(
            "  esp:                        # the e-mail tool receives tags, a list and a field\n"
            "    type: files\n"
            "    state: ../var/esp/state.json\n",
            "  esp: files\n",
        ),
        "esp: files",
        "connectors.esp",
        r"should be a mapping \(got 'files'\)",
    ),
    "missing environment variable": Mistake(
        replace("state: ../var/esp/state.json", "state: ${SYNCD_TEST_NOT_SET}/state.json"),
        "SYNCD_TEST_NOT_SET",
        "connectors.esp.state",
        r"environment variable SYNCD_TEST_NOT_SET is not set",
        ("check", "--connect"),
    ),
    "unknown segment in destination tags": Mistake(
        replace(SAMPLE_MAPPING, "      loyal_customer: LOYAL\n"),
        "loyal_customer: LOYAL",
        "destinations[0].tags.loyal_customer",
        r"unknown segment 'loyal_customer'; did you mean 'loyal_customers'\?$",
    ),
    "unknown segment in destination tags, like none": Mistake(
        replace(SAMPLE_MAPPING, "      zzz: LOYAL\n"),
        "zzz: LOYAL",
        "destinations[0].tags.zzz",
        r"unknown segment 'zzz' \(known: .*\bloyal_customers\b.*\)",
    ),
    "unknown segment in destination lists": Mistake(
        replace("      prospects: Newsletter", "      prospect: Newsletter"),
        "prospect: Newsletter",
        "destinations[0].lists.prospect",
        r"unknown segment 'prospect'; did you mean 'prospects'\?$",
    ),
    "destination naming an unknown instance": Mistake(
        replace("- connector: esp", "- connector: espp"),
        "connector: espp",
        "destinations[0].connector",
        r"unknown connector instance 'espp'; did you mean 'esp'\?$",
    ),
    "destination that cannot receive changes": Mistake(
        replace("- connector: esp", "- connector: crm"),
        "- connector: crm",
        "destinations[0].connector",
        r"connector instance 'crm' \(type files\) cannot receive changes",
    ),
    "unknown connector type": Mistake(
        replace(
            "    type: files\n    contacts: samples/crm",
            "    type: filez\n    contacts: samples/crm",
        ),
        "type: filez",
        "connectors.crm.type",
        r"unknown connector type 'filez'; did you mean 'files'\?",
    ),
    "bad duration in a schedule": Mistake(
        replace("every: 15m", "every: 15 parsecs"),
        "15 parsecs",
        "schedules.every_15_minutes.every",
        r"bad duration '15 parsecs': write a positive number and one of s, m, h, d, w",
    ),
    "bad cron in a schedule": Mistake(
        replace("{run: sync, every: 15m}", "{run: sync, cron: 'every tuesday'}"),
        "every tuesday",
        "schedules.every_15_minutes.cron",
        r"bad cron 'every tuesday': .*five fields",
    ),
    "unknown time zone in a schedule": Mistake(
        replace("every: 15m}", "every: 15m, timezone: Mars/Olympus}"),
        "Mars/Olympus",
        "schedules.every_15_minutes.timezone",
        r"unknown time zone 'Mars/Olympus'",
    ),
    "schedule with both triggers": Mistake(
        replace("every: 15m}", "every: 15m, cron: '*/5 * * * *'}"),
        "cron: '*/5",
        "schedules.every_15_minutes",
        r"give exactly one of every: or cron:",
    ),
    "duplicate key": Mistake(
        replace("  crm:  ", "  shop:\n    type: files\n  crm:  "),
        "  shop:\n    type: files\n  crm:",
        "connectors.shop",
        r"duplicate key 'shop'",
    ),
    "duplicate segment name": Mistake(
        replace("  vip:  ", "  customers: {tag: X}\n  vip:  "),
        "customers: {tag: X}",
        "segments.customers",
        r"duplicate key 'customers'",
    ),
    "duplicate destination": Mistake(
        replace("schedules:", "  - connector: esp\n    tags: [vip]\nschedules:"),
        "  - connector: esp\n    tags: [vip]",
        "destinations[1].connector",
        r"connector instance 'esp' is already a destination above",
    ),
    "connector option unknown": Mistake(
        replace("    events: samples/shop_events.jsonl", "    eventz: samples/shop_events.jsonl"),
        "eventz:",
        "connectors.shop.eventz",
        r"unknown key 'eventz'",
    ),
    "connector option of the wrong type": Mistake(
        replace(
            "    state: ../var/esp/state.json",
            "    state: ../var/esp/state.json\n    batch_size: lots",
        ),
        "batch_size: lots",
        "connectors.esp.batch_size",
        r"should be a valid integer.*\(got 'lots'\)",
    ),
    "connector option out of range": Mistake(
        replace(
            "    state: ../var/esp/state.json", "    state: ../var/esp/state.json\n    page_size: 0"
        ),
        "page_size: 0",
        "connectors.esp.page_size",
        r"should be greater than or equal to 1 \(got 0\)",
    ),
    "connector instance without a type": Mistake(
        replace("    type: files\n    state:", "    state:"),
        "  esp:",
        "connectors.esp",
        r"missing key 'type'",
    ),
    "precedence naming an unknown instance": Mistake(
        replace("precedence: [crm, shop]", "precedence: [crm, shopp]"),
        "precedence:",
        "precedence[1]",
        r"unknown connector instance 'shopp'; did you mean 'shop'\?$",
    ),
    "unknown rule form": Mistake(
        replace("{tag: VIP}", "{tagg: VIP}"),
        "tagg: VIP",
        "segments.vip",
        r"unknown rule 'tagg'",
    ),
    "bad duration inside a rule": Mistake(
        replace(
            "{event: email_clicked, within: 30d}", "{event: email_clicked, within: 30 parsecs}"
        ),
        "30 parsecs",
        "segments.clicked_recently.within",
        r"bad duration '30 parsecs'",
    ),
    "segment cycle": Mistake(
        replace("{tag: VIP}", "{segment: vip_again}\n  vip_again: {segment: vip}"),
        "vip_again: {segment: vip}",
        "segments.vip_again",
        r"segments refer to each other in a cycle: vip -> vip_again -> vip",
    ),
    "bad share in max_removals": Mistake(
        replace("mode: managed", "mode: managed\n    max_removals: lots"),
        "max_removals: lots",
        "destinations[0].max_removals",
        r"max_removals 'lots': write a number or a share such as 10%",
    ),
    "store url that is not a database URL": Mistake(
        replace("url: sqlite:///../var/syncd.db", "url: var/syncd.db"),
        "url: var/syncd.db",
        "store.url",
        r"the store url is not a database URL",
    ),
    "plugins_dir that does not exist": Mistake(
        append("plugins_dir: no_such_folder\n"),
        "plugins_dir:",
        "plugins_dir",
        r"plugins folder .*no_such_folder does not exist",
    ),
    "bad connector instance name": Mistake(
        # precedence names it as written: renamed alone, precedence's 'crm' would be unknown too
        lambda text: text.replace("  crm:  ", "  'c rm':  ", 1).replace(
            "precedence: [crm, shop]", "precedence: ['c rm', shop]", 1
        ),
        "'c rm'",
        "connectors.c rm",
        r"bad instance name 'c rm'",
    ),
}


def line_of(text: str, marker: str) -> int:
    """The 1-based line where ``marker`` begins in ``text``."""
    index = text.index(marker)
    return text.count("\n", 0, index) + 1 + (1 if marker.startswith("\n") else 0)


def edit_sample(sample_dir: Path, old: str, new: str) -> tuple[Path, str]:
    """The sample config with the first ``old`` in it replaced by ``new``: its path and text."""
    config = sample_dir / "syncd.yaml"
    text = config.read_text().replace(old, new, 1)
    config.write_text(text)
    return config, text


def check(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["--config", str(config), *(args or ("check",))])
    err = capsys.readouterr().err
    return code, err.splitlines()


def test_the_sample_config_is_valid(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(sample_dir / "syncd.yaml"), "check"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert re.search(r": valid — 3 connector instances, \d+ segments, 1 destinations", captured.out)


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_config_mistake_is_one_line_with_file_line_and_path(
    name: str, sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mistake = MISTAKES[name]
    config = sample_dir / "syncd.yaml"
    text = mistake.edit(config.read_text())
    config.write_text(text)
    code, lines = check(config, capsys, *mistake.args)
    assert code == 2, lines
    assert len(lines) == 1, lines
    prefix = f"{config}:{line_of(text, mistake.marker)}: {mistake.path}: "
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    assert re.match(mistake.message, lines[0][len(prefix) :]), lines[0]


def test_the_mistakes_cover_at_least_ten_different_kinds() -> None:
    messages = {re.sub(r"\W.*", "", m.message) for m in MISTAKES.values()}
    assert len(MISTAKES) >= 10 and len(messages) >= 10


def test_invalid_yaml_names_the_line_where_parsing_stopped_and_where_it_began(
    sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, text = edit_sample(sample_dir, "precedence: [crm, shop]", "precedence: [crm, shop")
    code, lines = check(config, capsys)
    assert code == 2 and len(lines) == 1, lines
    opened = line_of(text, "precedence:")
    match = re.fullmatch(rf"{re.escape(str(config))}:(\d+): invalid YAML: (.*)", lines[0])
    assert match, lines[0]
    assert int(match.group(1)) > opened  # where the parser noticed: the next key
    assert f"flow sequence started on line {opened}" in match.group(2)


def test_a_tab_in_the_indentation_is_invalid_yaml_on_its_line(
    sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, text = edit_sample(sample_dir, "    mode: managed", "\tmode: managed")
    code, lines = check(config, capsys)
    assert code == 2
    assert lines == [
        f"{config}:{line_of(text, chr(9))}: invalid YAML: "
        "found character '\\t' that cannot start any token"
    ]


def test_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, lines = check(missing, capsys)
    assert code == 2
    assert lines == [f"{missing}: config file not found"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_config_file(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = sample_dir / "syncd.yaml"
    config.chmod(0)
    try:
        code, lines = check(config, capsys)
    finally:
        config.chmod(0o644)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{config}: cannot read config file: ")
    assert "Permission denied" in lines[0]


def test_a_config_file_that_is_not_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "syncd.yaml"
    config.write_bytes(b"store:\n  url: \xff\xfe\n")
    code, lines = check(config, capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{config}: cannot read config file: ")
    assert "utf-8" in lines[0]


def test_a_folder_given_as_the_config(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(sample_dir, capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{sample_dir}: cannot read config file: ")


def test_a_config_that_is_not_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "syncd.yaml"
    config.write_text("- store\n- connectors\n")
    code, lines = check(config, capsys)
    assert code == 2
    assert lines == [
        f"{config}:1: the config must be a mapping of sections (store, connectors, ...)"
    ]


def test_a_secret_in_a_mistake_is_masked(
    sample_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_TEST_SECRET", "hunter2-very-secret")
    config, text = edit_sample(
        sample_dir,
        "    state: ../var/esp/state.json",
        "    state: ../var/esp/state.json\n    batch_size: ${SYNCD_TEST_SECRET}",
    )
    code, lines = check(config, capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "hunter2" not in lines[0]
    assert lines[0].endswith("(got '***')")
    assert lines[0].startswith(
        f"{config}:{line_of(text, 'batch_size')}: connectors.esp.batch_size: "
    )


def test_a_variable_default_is_used_when_the_variable_is_not_set(sample_dir: Path) -> None:
    config, _ = edit_sample(
        sample_dir,
        "url: sqlite:///../var/syncd.db",
        "url: ${SYNCD_TEST_NOT_SET:-sqlite:///other.db}",
    )
    assert load_config(config).store.url == f"sqlite:///{(sample_dir / 'other.db').resolve()}"


# --- the environment: SYNCD_STORE_URL, SYNCD_LOG_LEVEL, SYNCD_CONFIG ----------------------


def test_syncd_store_url_overrides_the_file(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sample_dir / "syncd.yaml"
    from_file = load_config(config).store.url
    assert from_file == f"sqlite:///{(sample_dir.parent / 'var' / 'syncd.db').resolve()}"
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("SYNCD_STORE_URL", elsewhere)
    assert load_config(config).store.url == elsewhere
    assert main(["--config", str(config), "pull", "--json"]) == 0
    assert (tmp_path / "elsewhere.db").exists()
    assert not (sample_dir.parent / "var" / "syncd.db").exists()


def test_a_bad_syncd_store_url_is_one_line(
    sample_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_STORE_URL", "not a url")
    code, lines = check(sample_dir / "syncd.yaml", capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("SYNCD_STORE_URL: the store url is not"), lines


def test_syncd_log_level_sets_what_is_logged(
    sample_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(sample_dir / "syncd.yaml")
    assert main(["--config", config, "pull", "--json"]) == 0
    # the default level for a command logs no info (progress lines are not log lines)
    assert not [x for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "INFO")
    assert main(["--config", config, "pull", "--json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"run started", "run finished"} <= {e["event"] for e in events}
    assert {e["level"] for e in events} <= {"info", "warning", "error"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SYNCD_LOG_LEVEL", "loud", "should be 'debug', 'info', 'warning' or 'error' (got 'loud')"),
        ("SYNCD_LOG_FORMAT", "xml", "should be 'auto', 'json' or 'console' (got 'xml')"),
        ("SYNCD_NOW", "yesterday", "should be a valid datetime"),
        ("SYNCD_TRACE_PLUGINS", "maybe", "should be a valid boolean"),
    ],
)
def test_a_bad_environment_setting_is_one_line(
    variable: str,
    value: str,
    message: str,
    sample_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    code, lines = check(sample_dir / "syncd.yaml", capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{variable}: {message}"), lines[0]


def test_syncd_config_picks_the_config(
    sample_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = sample_dir / "other.yaml"
    other.write_text((sample_dir / "syncd.yaml").read_text())
    monkeypatch.setenv("SYNCD_CONFIG", str(other))
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith(f"{other}: valid")
    # --config wins over the variable
    assert main(["--config", str(sample_dir / "syncd.yaml"), "check"]) == 0
    assert capsys.readouterr().out.startswith(f"{sample_dir / 'syncd.yaml'}: valid")
    monkeypatch.setenv("SYNCD_CONFIG", str(sample_dir / "missing.yaml"))
    assert main(["check"]) == 2
    assert capsys.readouterr().err == f"{sample_dir / 'missing.yaml'}: config file not found\n"
