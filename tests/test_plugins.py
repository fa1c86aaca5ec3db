"""Plugins: entry points, a plugins folder, broken plugins, hook tracing, and every hook's test.

Every hook of syncd/hookspecs.py must have a ``test_hook_<name>`` here and a section in
docs/plugins.md; the two meta-tests at the end fail otherwise.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import textwrap
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncd import hookspecs
from syncd.cli import main
from syncd.errors import PluginError
from syncd.logs import configure_logging
from syncd.plugins import get_plugin_manager
from syncd.store.schema import cursors, identities
from syncd_plugins.files.connector import FilesConnector

REPO = Path(__file__).resolve().parents[1]

GREETING = """
    from syncd import hookimpl
    from syncd.connectors.contract import Connector, ConnectorOptions


    class GreetingOptions(ConnectorOptions):
        greeting: str = "hello"


    class GreetingConnector(Connector):
        name = "greeting"
        Options = GreetingOptions


    @hookimpl
    def syncd_connectors():
        return [GreetingConnector]
"""

ECHO_EMULATOR = """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from syncd import hookimpl


    def make_echo(*, seed=0, faults=None, rate_limit=None):
        async def state(request):
            return JSONResponse({"seed": seed, "faults": faults, "rate_limit": rate_limit})

        return Starlette(routes=[Route("/_emulator/state", state)])


    @hookimpl
    def syncd_emulators():
        return {"echo": make_echo}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


def write_plugins(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def one_hook(folder: Path, name: str, hook: str, returns: str) -> Path:
    """A plugins folder with ``name``.py: one ``hook`` that returns ``returns``."""
    text = f"from syncd import hookimpl\n\n\n@hookimpl\ndef {hook}():\n    return {returns}\n"
    return write_plugins(folder, **{name: text})


def config_with(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)


# --- where plugins come from ------------------------------------------------------------


def test_the_files_connector_comes_through_the_syncd_entry_point_group() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="syncd")}
    assert found.get("files") == "syncd_plugins.files"
    plugins = get_plugin_manager()
    assert plugins.connectors()["files"] is FilesConnector
    assert plugins.origin_of(FilesConnector).startswith("entry point syncd_plugins.files (syncd ")
    assert plugins.failures == []


def test_the_core_imports_nothing_from_the_bundled_plugins() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "syncd").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+(syncd_)?plugins\b", path.read_text(), re.M)
    ]
    assert offenders == []


def test_a_py_file_in_plugins_dir_is_loaded_and_its_options_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_plugins(tmp_path / "local", greeting=GREETING)
    config = config_with(
        tmp_path,
        """
        plugins_dir: local
        connectors:
          hello: {type: greeting, greeting: hi}
        """,
    )
    assert main(["--config", str(config), "check"]) == 0
    assert "valid — 1 connector instances" in capsys.readouterr().out

    code, listed = run_json(capsys, "--config", str(config), "plugins", "--json")
    assert code == 0
    rows = {row["type"]: row for row in listed["connectors"]}
    assert rows["greeting"]["from"] == f"plugins folder {tmp_path / 'local' / 'greeting.py'}"
    assert rows["greeting"]["class"].endswith(".GreetingConnector")
    assert "files" in rows  # the entry-point plugins load beside it
    assert listed["failures"] == []

    config.write_text(config.read_text().replace("greeting: hi", "greting: hi"))
    assert main(["--config", str(config), "check"]) == 2
    assert capsys.readouterr().err == (
        f"{config}:4: connectors.hello.greting: unknown key 'greting'\n"
    )


def test_syncd_plugins_json_lists_each_connector_with_its_class_and_origin(
    sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, listed = run_json(capsys, "--config", str(sample_dir / "syncd.yaml"), "plugins", "--json")
    assert code == 0
    assert set(listed) == {"connectors", "failures"}
    files = next(row for row in listed["connectors"] if row["type"] == "files")
    assert files == {
        "type": "files",
        "class": "syncd_plugins.files.connector.FilesConnector",
        "from": files["from"],
    }
    assert re.fullmatch(r"entry point syncd_plugins\.files \(syncd [\w.]+\)", files["from"])
    assert all(set(row) == {"type", "class", "from"} for row in listed["connectors"])
    assert listed["failures"] == []


# --- broken plugins ---------------------------------------------------------------------


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_plugins(
        tmp_path / "local",
        broken="import syncd_no_such_module_anywhere\n",
        exploding="raise RuntimeError('the plugin fell over\\nwith a second line')\n",
        greeting=GREETING,
    )
    log = io.StringIO()
    configure_logging("warning", "json", stream=log)
    plugins = get_plugin_manager(folder)
    failures = {Path(f.name).name: f.error for f in plugins.failures}
    assert failures == {
        "broken.py": "ModuleNotFoundError: No module named 'syncd_no_such_module_anywhere'",
        "exploding.py": "RuntimeError: the plugin fell over with a second line",
    }
    assert set(plugins.connectors()) >= {"greeting", "files"}
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], Path(e["plugin"]).name) for e in logged] == [
        ("plugin failed to load; skipped", "broken.py"),
        ("plugin failed to load; skipped", "exploding.py"),
    ]

    # the CLI lists them after the connectors, and a config that uses the good one is valid
    config = config_with(tmp_path, "plugins_dir: local\nconnectors:\n  hello: {type: greeting}\n")
    code, listed = run_json(capsys, "--config", str(config), "plugins", "--json")
    assert code == 0
    assert {Path(f["plugin"]).name for f in listed["failures"]} == {"broken.py", "exploding.py"}
    assert main(["--config", str(config), "plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"failed to load .*broken\.py: ModuleNotFoundError", out)
    assert main(["--config", str(config), "check"]) == 0


def test_a_misspelt_hook_fails_loudly_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_hook(tmp_path / "local", "misspelt", "syncd_conectors", "[]")
    with pytest.raises(PluginError) as raised:
        get_plugin_manager(folder)
    assert str(raised.value) == (
        f"plugin 'misspelt' (plugins folder {folder / 'misspelt.py'}): "
        "unknown hook 'syncd_conectors'; did you mean syncd_connectors?"
    )

    config = config_with(tmp_path, "plugins_dir: local\n")
    assert main(["--config", str(config), "check"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {raised.value}\n"


def test_syncd_trace_plugins_logs_every_hook_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_plugins(tmp_path / "local", greeting=GREETING)
    log = io.StringIO()
    configure_logging("info", "json", stream=log)
    get_plugin_manager(folder).connectors()
    assert log.getvalue() == ""  # off unless asked

    monkeypatch.setenv("SYNCD_TRACE_PLUGINS", "1")
    plugins = get_plugin_manager(folder)
    plugins.connectors()
    plugins.emulators()
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    calls = [e for e in events if e["event"] == "hook call"]
    results = [e for e in events if e["event"] == "hook result"]
    assert [c["hook"] for c in calls] == ["syncd_connectors", "syncd_emulators"]
    assert {"greeting", "files"} <= set(calls[0]["plugins"])
    assert [r["hook"] for r in results] == ["syncd_connectors", "syncd_emulators"]
    assert "GreetingConnector" in results[0]["result"]


# --- one test per hook (the meta-test below checks each hook has one) ---------------------


def test_hook_syncd_connectors(tmp_path: Path) -> None:
    folder = write_plugins(tmp_path / "local", greeting=GREETING)
    plugins = get_plugin_manager(folder)
    returned = plugins.hook.syncd_connectors()
    classes = {cls.name: cls for found in returned for cls in found}
    assert classes["files"] is FilesConnector
    assert classes["greeting"].__name__ == "GreetingConnector"
    assert plugins.connectors().keys() == classes.keys()


def test_hook_syncd_connectors_refuses_what_is_not_a_connector(tmp_path: Path) -> None:
    folder = one_hook(tmp_path / "local", "wrong", "syncd_connectors", "[dict]")
    with pytest.raises(PluginError, match=r"returned <class 'dict'>, which is not a Connector"):
        get_plugin_manager(folder).connectors()
    (folder / "wrong.py").write_text((folder / "wrong.py").read_text().replace("[dict]", "dict"))
    with pytest.raises(PluginError, match=r"returned <class 'dict'>, not a list of Connector"):
        get_plugin_manager(folder).connectors()


def test_hook_syncd_connectors_refuses_one_type_registered_twice(tmp_path: Path) -> None:
    folder = write_plugins(
        tmp_path / "local",
        impostor="""
            from syncd import hookimpl
            from syncd.connectors.contract import Connector


            class Files(Connector):
                name = "files"


            @hookimpl
            def syncd_connectors():
                return [Files]
        """,
    )
    with pytest.raises(PluginError) as raised:
        get_plugin_manager(folder).connectors()
    message = str(raised.value)
    assert message.startswith("connector type 'files' is registered twice: by ")
    assert "entry point syncd_plugins.files" in message
    assert f"plugins folder {folder / 'impostor.py'}" in message


def test_hook_syncd_emulators(tmp_path: Path) -> None:
    folder = write_plugins(tmp_path / "local", echo=ECHO_EMULATOR)
    emulators = get_plugin_manager(folder).emulators()
    assert "echo" in emulators
    app = emulators["echo"](seed=7, faults=None, rate_limit=0)

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo") as client:
            return await client.get("/_emulator/state")

    answer = asyncio.run(ask())
    assert answer.status_code == 200
    assert answer.json() == {"seed": 7, "faults": None, "rate_limit": 0}
    # without the folder, the test plugin's emulator is not there
    assert "echo" not in get_plugin_manager().emulators()


WEBHOOKS = """
    from syncd import hookimpl
    from syncd.connectors import WebhookDelivery, WebhookReceiver, WebhookRefused, same_secret


    class GreetingWebhooks(WebhookReceiver):
        def verify(self, request):
            if not same_secret(self.needs("token")["token"], request.query.get("token")):
                raise WebhookRefused(401, "wrong token")

        def read(self, request):
            return WebhookDelivery(None, "greeting", [])


    @hookimpl
    def syncd_webhook_receivers():
        return {"greeting": GreetingWebhooks}
"""


def test_hook_syncd_webhook_receivers(tmp_path: Path) -> None:
    from syncd.connectors import ConnectorContext, WebhookRefused, WebhookRequest, WebhookSecrets

    folder = write_plugins(tmp_path / "local", greeting=GREETING, hooks=WEBHOOKS)
    plugins = get_plugin_manager(folder)
    receivers = plugins.webhook_receivers()
    assert {"shopify", "hubspot", "activecampaign", "salesmanago", "greeting"} <= set(receivers)
    connector = plugins.connectors()["greeting"](
        plugins.connectors()["greeting"].Options(), ConnectorContext("hello")
    )
    receiver = receivers["greeting"](connector, WebhookSecrets(token="s3cret"))

    def request(token: str) -> WebhookRequest:
        now = datetime.now(UTC)
        return WebhookRequest("POST", "http://x/", {}, {"token": token}, b"", now)

    receiver.verify(request("s3cret"))
    with pytest.raises(WebhookRefused, match="wrong token"):
        receiver.verify(request("guess"))
    assert "greeting" not in get_plugin_manager().webhook_receivers()


def test_a_receivers_subscriber_lists_and_registers_for_its_connector() -> None:
    from syncd.connectors import (
        ConnectorContext,
        WebhookReceiver,
        WebhookSecrets,
        WebhookSubscription,
        WebhookSubscriptions,
    )

    asked: list[tuple[Any, ...]] = []

    class Subscriber(WebhookSubscriptions):
        def subscriptions(self) -> list[WebhookSubscription]:
            asked.append(("list", self.connector))
            return [WebhookSubscription("1", "contact.creation", "https://old")]

        def register(self, address: str) -> list[WebhookSubscription]:
            asked.append(("register", self.connector, address))
            return [WebhookSubscription("2", "contact.creation", address)]

    class Managed(WebhookReceiver):
        subscriber = Subscriber

    connector = FilesConnector(FilesConnector.Options(), ConnectorContext("files"))
    receiver = Managed(connector, WebhookSecrets())
    assert [s.id for s in receiver.subscriptions()] == ["1"]
    assert receiver.register("https://new") == [
        WebhookSubscription("2", "contact.creation", "https://new")
    ]
    assert asked == [("list", connector), ("register", connector, "https://new")]
    # without a subscriber a receiver says it cannot, as before
    bare = WebhookReceiver(connector, WebhookSecrets())
    with pytest.raises(NotImplementedError, match="cannot list subscriptions"):
        bare.subscriptions()
    with pytest.raises(NotImplementedError, match="cannot register subscriptions"):
        bare.register("https://new")


def test_hook_syncd_webhook_receivers_refuses_what_is_not_a_receiver(tmp_path: Path) -> None:
    folder = one_hook(tmp_path / "local", "wrong", "syncd_webhook_receivers", '{"greeting": 42}')
    with pytest.raises(PluginError, match=r"gave 42 for 'greeting', which is not a receiver"):
        get_plugin_manager(folder).webhook_receivers()


# --- two instances of one connector -----------------------------------------------------


def test_two_instances_of_one_connector_work_side_by_side(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "eu.jsonl").write_text(
        '{"id": "eu-1", "email": "ada@example.com", "tags": ["VIP"]}\n'
        '{"id": "eu-2", "email": "bob@example.com"}\n'
    )
    (tmp_path / "eu_events.jsonl").write_text(
        '{"id": "o1", "contact_id": "eu-2", "type": "order_placed", "at": "2026-11-01T10:00:00Z",'
        ' "value": 40}\n'
    )
    (tmp_path / "us.csv").write_text(
        "id,email,tags\nus-1,Ada@Example.com,\nus-2,carol@example.com,VIP\n"
    )
    config = config_with(
        tmp_path,
        """
        connectors:
          shop_eu: {type: files, contacts: eu.jsonl, events: eu_events.jsonl}
          shop_us: {type: files, contacts: us.csv}
          esp: {type: files, state: esp/state.json}
        segments:
          vip: {tag: VIP}
          buyers: {event: order_placed}
        destinations:
          - connector: esp
            tags: {vip: VIP, buyers: BUYER}
        """,
    )
    monkeypatch.setenv("SYNCD_STORE_URL", store_url)
    monkeypatch.setenv("SYNCD_NOW", "2026-11-20T12:00:00Z")
    assert main(["--config", str(config), "sync"]) == 0
    held = json.loads((tmp_path / "esp" / "state.json").read_text())["contacts"]
    assert {email: c["tags"] for email, c in held.items()} == {
        "ada@example.com": ["VIP"],
        "bob@example.com": ["BUYER"],
        "carol@example.com": ["VIP"],
    }
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        ids = conn.execute(
            sa.select(identities.c.connector, identities.c.external_id, identities.c.contact_id)
        ).all()
        streams = conn.execute(sa.select(cursors.c.connector, cursors.c.stream)).all()
    engine.dispose()
    contact_of = {(c, e): cid for c, e, cid in ids}
    # one person known to both shops is one contact with an identity in each
    assert contact_of[("shop_eu", "eu-1")] == contact_of[("shop_us", "us-1")]
    assert contact_of[("shop_eu", "eu-2")] != contact_of[("shop_us", "us-2")]
    assert {tuple(s) for s in streams} >= {
        ("shop_eu", "contacts"),
        ("shop_eu", "events"),
        ("shop_us", "contacts"),
    }


# --- the core and the bundled plugins -----------------------------------------------------


def test_the_core_names_no_bundled_vendor() -> None:
    """syncd/ knows no vendor: the bundled plugins register as a third party's would."""
    vendors = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "emulator.py").exists())
    assert {"activecampaign", "hubspot", "salesmanago", "shopify"} <= set(vendors)
    named = re.compile("|".join(vendors), re.I)
    core = REPO / "syncd"
    found = []
    for path in sorted(core.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        where = path.relative_to(core).as_posix()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if named.search(line):
                found.append(f"syncd/{where}:{n}: {line.strip()}")
    assert not found, "the core names a bundled vendor:\n" + "\n".join(found)


# --- the meta-tests ---------------------------------------------------------------------


def declared_hooks() -> list[str]:
    return sorted(
        name
        for name in dir(hookspecs)
        if name.startswith("syncd_") and hasattr(getattr(hookspecs, name), "syncd_spec")
    )


def test_the_hookspecs_declare_the_known_hooks() -> None:
    assert {"syncd_connectors", "syncd_emulators"} <= set(declared_hooks())
    for name in declared_hooks():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip().startswith("Return"), f"{name}: its docstring says what to return"


@pytest.mark.parametrize("hook", declared_hooks())
def test_every_hook_has_a_test(hook: str) -> None:
    assert f"test_hook_{hook}" in globals(), f"hook {hook} has no test_hook_{hook} in {__file__}"


@pytest.mark.parametrize("hook", declared_hooks())
def test_every_hook_is_documented(hook: str) -> None:
    doc = (REPO / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### {hook}\(", doc, re.M), f"docs/plugins.md has no '### {hook}()'"


def test_every_documented_hook_exists() -> None:
    doc = (REPO / "docs" / "plugins.md").read_text()
    documented = re.findall(r"^### (syncd_\w+)\(", doc, re.M)
    assert sorted(documented) == declared_hooks()
