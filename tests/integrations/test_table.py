"""The integration table: every kind is one folder, and what reads the table sees it."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from reconciler.config.base import HTTPS_URL_PATTERN, Connection, SecretRef
from reconciler.config.models import Connections, CustomerSpec, Integrations, SettingsSpec
from reconciler.daemon.metrics import _ApiCollector
from reconciler.integrations.kinds import IntegrationKind, Role
from reconciler.integrations.table import TABLE, linked, of_role
from reconciler.providers.files import _linked_kind


def test_every_kind_has_exactly_one_line_in_the_table() -> None:
    assert set(TABLE) == set(IntegrationKind)
    assert all(facts.kind is kind for kind, facts in TABLE.items())


@pytest.mark.parametrize("kind", list(IntegrationKind))
def test_each_folder_holds_settings_client_and_simulator_hookup(kind: IntegrationKind) -> None:
    facts = TABLE[kind]
    client = import_module(facts.client_module)
    assert callable(client.connect)
    if facts.lists_organizations:
        assert callable(client.list_organizations)
    hookup = import_module(facts.sandbox_module)
    assert callable(hookup.hookup)
    assert facts.marker_field and facts.matching_keys and facts.record_shape
    assert facts.settings.__module__ == f"reconciler.integrations.{kind.value}.spec"


def test_config_models_have_a_connection_and_a_link_per_integration() -> None:
    for facts in TABLE.values():
        assert Connections.model_fields[facts.kind.value].annotation == facts.settings | None
        assert facts.link_attr in Integrations.model_fields
    schema = SettingsSpec.model_json_schema(by_alias=True)
    connections = schema["$defs"]["Connections"]["properties"]
    assert set(k.value for k in IntegrationKind) <= set(connections)
    links = CustomerSpec.model_json_schema(by_alias=True)["$defs"]["Integrations"]["properties"]
    assert {f.link for f in TABLE.values()} == set(links)


def test_linked_reads_the_customers_links_by_role() -> None:
    links = Integrations.model_validate({"huduCompanyId": "7", "autotaskCompanyId": 9})
    assert [f.kind for f in linked(links, Role.VAULT)] == [IntegrationKind.HUDU]
    assert [f.kind for f in linked(links, Role.PSA)] == [IntegrationKind.AUTOTASK]
    assert TABLE[IntegrationKind.AUTOTASK].linked_id(links) == "9"
    assert _linked_kind(links, Role.PSA) is IntegrationKind.AUTOTASK
    assert {f.role for f in of_role(Role.PSA)} == {Role.PSA}


def test_metrics_have_a_series_for_every_integration_from_the_start() -> None:
    (requests, *_rest) = list(_ApiCollector().collect())
    labels = {s.labels["integration"] for s in requests.samples}
    assert {k.value for k in IntegrationKind} <= labels


def test_the_product_never_loads_simulators_or_their_dependencies() -> None:
    """A plan, the daemon's modules and the CLI import neither reconciler.testing nor
    the sandbox extra (trustme, aiosmtpd): the import contract, checked at run time too."""
    code = (
        "import sys, reconciler.cli, reconciler.daemon.runner, reconciler.engine;"
        "import reconciler.integrations.table as t, importlib;"
        "[importlib.import_module(f.client_module) for f in t.TABLE.values()];"
        "bad = [m for m in sys.modules if m.startswith(('reconciler.testing', 'trustme', 'aiosmtpd'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sandbox_without_its_extra_says_what_to_install(tmp_path: object) -> None:
    code = (
        "import sys; sys.modules['trustme'] = None;"
        "from click.testing import CliRunner; from reconciler.cli import main;"
        f"r = CliRunner().invoke(main, ['sandbox', '--dir', {str(tmp_path)!r}]);"
        "print(r.output); sys.exit(r.exit_code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "needs the sandbox extra (trustme is missing): pip install 'reconciler[sandbox]'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "module",
    [
        "reconciler.integrations.table",
        "reconciler.integrations.halo.spec",
        "reconciler.config.base",
        "reconciler.config.models",
        "reconciler.core.model",
        "reconciler.providers.http",
    ],
)
def test_each_layer_imports_first_without_a_cycle(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _pattern(field: FieldInfo) -> object:
    extra = field.json_schema_extra
    return extra.get("pattern") if isinstance(extra, dict) else None


def _minimal(model: type[Connection]) -> dict[str, object]:
    """A valid body for `model`: every required field given a value of its type."""
    body: dict[str, object] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        alias = field.alias or name
        if field.annotation is SecretRef:
            body[alias] = {"env": "X"}
        elif name == "site":
            body[alias] = "api.vendor.example"
        elif _pattern(field) == HTTPS_URL_PATTERN:
            body[alias] = "https://vendor.example"
        else:
            body[alias] = "x1"
    return body


@pytest.mark.parametrize("kind", list(IntegrationKind))
def test_every_connection_refuses_literal_secrets_and_plain_http_by_field_type(kind: IntegrationKind) -> None:
    """The shared base (D3/D5/D8): each vendor's settings are a `Connection`, and every
    secret and base-URL field gets its check from its type, so none can be forgotten."""
    model = TABLE[kind].settings
    assert issubclass(model, Connection)
    assert model.model_validate(_minimal(model)).timeout_seconds == 60.0
    secrets = [n for n, f in model.model_fields.items() if f.annotation in (SecretRef, SecretRef | None)]
    urls = [n for n, f in model.model_fields.items() if _pattern(f) == HTTPS_URL_PATTERN]
    assert secrets
    for name in secrets:
        alias = model.model_fields[name].alias or name
        with pytest.raises(ValidationError, match="literal secrets are not allowed") as err:
            model.model_validate({**_minimal(model), alias: "hunter2-pasted-key"})
        assert "hunter2" not in str(err.value)
    for name in urls:
        alias = model.model_fields[name].alias or name
        with pytest.raises(ValidationError, match="must be an https:// URL"):
            model.model_validate({**_minimal(model), alias: "http://vendor.example"})
