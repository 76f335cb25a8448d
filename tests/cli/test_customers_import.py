"""`reconciler customers import` against the IT Glue and Hudu simulators (R21)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.generate import Origin, customer_yaml, slugify, unique_name
from reconciler.integrations.kinds import IntegrationKind
from reconciler.testing.httpsim import TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator

KEY = "import-KEY-0b5d-do-not-leak"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def itglue(ca: TestCA) -> Iterator[ItGlueSimulator]:
    with ItGlueSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, ItGlueSimulator)
        yield s


def settings_yaml(connections: str) -> str:
    return f"""\
apiVersion: reconciler.dev/v1
kind: Settings
metadata: {{name: default}}
spec:
  connections:
{connections}
"""


def config_dir(tmp_path: Path, ca: TestCA, itglue: str | None = None, hudu: str | None = None) -> Path:
    root = tmp_path / "cfg"
    root.mkdir()
    (root / "api.key").write_text(KEY)
    conns = ""
    if itglue:
        conns += f"    itglue: {{baseUrl: '{itglue}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}\n"
    if hudu:
        conns += (
            f"    hudu: {{baseUrl: '{hudu}/api/v1', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}\n"
        )
    (root / "settings.yaml").write_text(settings_yaml(conns or "    {}\n"))
    return root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_writes_one_reviewable_valid_customer_per_new_organization(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    acme = itglue.add_organization("Acme Corp.")
    acme2 = itglue.add_organization("ACME corp")  # same slug: gets its id appended
    beta = itglue.add_organization("Müller & Söhne GmbH", status="Inactive")
    kanji = itglue.add_organization("株式会社")  # nothing usable for a slug
    known = itglue.add_organization("Known Ltd")
    root = config_dir(tmp_path, ca, itglue=itglue.url)
    (root / "known.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: our-name-for-known}\n"
        f"spec: {{integrations: {{itglueOrganizationId: '{known}'}}}}\n"
    )

    code, out = run("customers", "import", "--from", "itglue", "-c", str(root))

    assert code == 0, out
    files = sorted(p.name for p in (root / "customers").iterdir())
    assert files == sorted(
        ["acme-corp.yaml", f"acme-corp-{acme2}.yaml", "muller-sohne-gmbh.yaml", f"itglue-{kanji}.yaml"]
    )
    assert f"skip IT Glue organization {known} 'Known Ltd': already customer our-name-for-known" in out
    assert "wrote 4 customers; skipped 1" in out
    text = (root / "customers" / "muller-sohne-gmbh.yaml").read_text()
    assert text.startswith(
        "# yaml-language-server: $schema=https://reconciler.dev/schemas/customer.schema.json\n"
    )
    assert f'IT Glue organization {beta} "Müller & Söhne GmbH" (type: Customer, status: Inactive)' in text
    assert yaml.safe_load(text) == {
        "apiVersion": "reconciler.dev/v1",
        "kind": "Customer",
        "metadata": {"name": "muller-sohne-gmbh"},
        "spec": {"integrations": {"itglueOrganizationId": str(beta)}},
    }
    assert yaml.safe_load((root / "customers" / "acme-corp.yaml").read_text())["spec"]["integrations"] == {
        "itglueOrganizationId": str(acme)
    }
    code, out = run("validate", "-c", str(root))
    assert code == 0 and "valid (5 customers" in out, out
    assert KEY not in out


def test_a_second_run_writes_nothing_and_never_overwrites(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    itglue.add_organization("Acme")
    root = config_dir(tmp_path, ca, itglue=itglue.url)
    assert run("customers", "import", "--from", "itglue", "-c", str(root))[0] == 0
    path = root / "customers" / "acme.yaml"
    path.write_text(path.read_text().replace("# Review before merging", "# Reviewed by Ann"))
    before = path.read_text()

    code, out = run("customers", "import", "--from", "itglue", "-c", str(root))

    assert code == 0 and "wrote 0 customers; skipped 1" in out and "already customer acme" in out
    assert path.read_text() == before


def test_a_taken_file_name_is_never_overwritten(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    org = itglue.add_organization("Acme")
    root = config_dir(tmp_path, ca, itglue=itglue.url)
    (root / "customers").mkdir()
    # a file named like the new customer, holding a customer of another name
    other = "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: acme-legacy}\n"
    (root / "customers" / "acme.yaml").write_text(other)

    code, out = run("customers", "import", "--from", "itglue", "-c", str(root))

    assert code == 0, out
    assert (root / "customers" / "acme.yaml").read_text() == other
    assert (root / "customers" / f"acme-{org}.yaml").is_file()
    assert run("validate", "-c", str(root))[0] == 0


def test_filter_and_dry_run(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    itglue.add_organization("Acme North")
    itglue.add_organization("Acme South")
    itglue.add_organization("Beta")
    root = config_dir(tmp_path, ca, itglue=itglue.url)

    code, out = run(
        "customers", "import", "--from", "itglue", "--filter", "acme", "--dry-run", "-c", str(root)
    )

    assert code == 0, out
    assert "name: acme-north" in out and "name: acme-south" in out and "beta" not in out
    assert "would write 2 customers" in out
    assert not (root / "customers").exists()


def test_hudu_companies_and_hostile_names(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY, max_page_size=25) as sim:
        assert isinstance(sim, HuduSimulator)
        for i in range(30):
            sim.add_company(f"Client {i:02d}")
        sim.add_company("Archived Client", archived=True)
        evil = sim.add_company("Evil\nkind: ImportPolicy\u2028spec: {}\x85# x")
        root = config_dir(tmp_path, ca, hudu=sim.url)
        code, out = run("customers", "import", "--from", "hudu", "-c", str(root), "--out", "from-hudu")

    assert code == 0, out
    written = sorted((root / "from-hudu").iterdir())
    assert len(written) == 31 and not any("archived" in p.name for p in written)
    text = (root / "from-hudu" / "evil-kind-importpolicy-spec-x.yaml").read_text()
    docs = list(yaml.safe_load_all(text))
    assert docs == [
        {
            "apiVersion": "reconciler.dev/v1",
            "kind": "Customer",
            "metadata": {"name": "evil-kind-importpolicy-spec-x"},
            "spec": {"integrations": {"huduCompanyId": str(evil)}},
        }
    ]
    assert all(
        line.startswith(("#", " ", "apiVersion", "kind", "metadata", "spec")) for line in text.splitlines()
    )
    code, out = run("validate", "-c", str(root))
    assert code == 0 and "valid (31 customers" in out, out


def test_without_a_connection_the_error_is_clear(tmp_path: Path, ca: TestCA) -> None:
    root = config_dir(tmp_path, ca)
    code, out = run("customers", "import", "--from", "hudu", "-c", str(root))
    assert code == 1 and "Hudu: Settings has no connections.hudu" in out


def test_a_wrong_key_is_a_clear_error_without_the_key(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root = config_dir(tmp_path, ca, itglue=itglue.url)
    (root / "api.key").write_text("not-the-key")
    code, out = run("customers", "import", "--from", "itglue", "-c", str(root))
    assert code == 1 and "IT Glue: GET /organizations: HTTP 401" in out
    assert "not-the-key" not in out


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Corp.", "acme-corp"),
        ("  --Weird__Name--  ", "weird-name"),
        ("Ünïcødé Ltd", "unicode-ltd"),
        ("Strøm & Bæk ApS / Łódź", "strom-baek-aps-lodz"),
        ("x" * 80, "x" * 63),
        ("株式会社", ""),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_unique_names_stay_valid_dns_labels() -> None:
    long = Origin(IntegrationKind.HUDU, "123456", "y" * 70)
    taken: set[str] = set()
    for _ in range(4):
        name = unique_name(long, taken)
        assert name not in taken
        customer_yaml(name, long)  # checks the name against the schema's pattern
        taken.add(name)
    y = "y"
    assert taken == {y * 63, y * 56 + "-123456", y * 54 + "-123456-2", y * 54 + "-123456-3"}
    assert unique_name(Origin(IntegrationKind.ITGLUE, "77", "株式会社"), set()) == "itglue-77"
