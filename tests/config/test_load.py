"""Config stage: a directory of YAML files -> ConfigSet, with every problem located."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.config.load import config_files, load_config
from reconciler.errors import ConfigError

CUSTOMER = "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata:\n  name: {name}\n"
POLICY = """\
apiVersion: reconciler.dev/v1
kind: {kind}
metadata: {{name: {name}}}
spec:
  source: activeDirectory
  selection: {{ous: ["OU={name},DC=acme,DC=local"]}}
"""


SETTINGS = "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"


def write(root: Path, rel: str, text: str, settings: bool = True) -> Path:
    """Write one file; a config directory gets its Settings document with its first file."""
    if settings and not (root / "settings.yaml").exists() and not rel.startswith("settings."):
        write(root, "settings.yaml", SETTINGS)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(root)
    return [str(p) for p in err.value.problems]


def test_documents_are_loaded_by_kind_from_a_tree_of_files(tmp_path: Path) -> None:
    write(tmp_path, "settings.yaml", "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n")
    write(tmp_path, "customers/acme.yaml", CUSTOMER.format(name="acme"))
    write(
        tmp_path,
        "customers/more.yml",
        CUSTOMER.format(name="globex") + "---\n" + CUSTOMER.format(name="initech"),
    )
    write(tmp_path, "policies/p.yaml", POLICY.format(kind="ImportPolicy", name="std"))
    write(tmp_path, "policies/a.yaml", POLICY.format(kind="AdminImportPolicy", name="adm"))
    config = load_config(tmp_path)
    assert config.settings is not None
    assert config.settings.doc.metadata.name == "msp"
    assert sorted(config.customers) == ["acme", "globex", "initech"]
    assert list(config.policies) == ["std"]
    assert list(config.admin_policies) == ["adm"]
    initech = config.customers["initech"].src
    assert (initech.file, initech.index, initech.line) == (str(tmp_path / "customers/more.yml"), 1, 6)
    assert initech.where(("metadata", "name")).line == 9


def test_settings_defaults_when_the_document_has_no_spec(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", CUSTOMER.format(name="acme"))
    config = load_config(tmp_path)
    assert config.settings is not None
    spec = config.settings_doc.spec
    assert spec.state.path == ".reconciler/state.db"
    assert spec.snapshot is None
    assert spec.features.password_manager is False
    assert (spec.safety.max_removal_percent, spec.safety.min_existing_accounts) == (30.0, 10)


def test_a_directory_without_settings_is_one_clear_problem(tmp_path: Path) -> None:
    """#17 item 2: `-c customers/` (or any folder without the Settings document) is
    one problem pointing at the config directory, not a valid empty config."""
    root = tmp_path / "repo"
    write(root, "customers/acme.yaml", CUSTOMER.format(name="acme"))
    write(root, "customers/bad.yaml", "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: A}\n")
    assert problems(root / "customers") == [
        f"{root / 'customers'}: no Settings document here; a config directory holds exactly one "
        f"(kind: Settings); did you mean -c {root.resolve()}?"
    ]


def test_a_folder_above_config_directories_is_one_problem_per_extra_settings(tmp_path: Path) -> None:
    for name in ("eu", "us"):
        write(tmp_path / name, "customers/acme.yaml", CUSTOMER.format(name="acme"))  # duplicates
    assert problems(tmp_path) == [
        f"{tmp_path / 'us/settings.yaml'}:2:1: only one Settings document is allowed (first at "
        f"{tmp_path / 'eu/settings.yaml'}:1); is this one config directory or a folder holding several?"
    ]
    other = tmp_path / "other"
    write(other, "notes.yaml", "a: 1\n", settings=False)
    assert problems(other) == [
        f"{other}: no Settings document here; a config directory holds exactly one (kind: Settings), "
        "usually in settings.yaml"
    ]


def test_an_unreadable_settings_file_reports_its_own_problem(tmp_path: Path) -> None:
    write(tmp_path, "settings.yaml", "kind: [Settings\n")
    write(tmp_path, "acme.yaml", CUSTOMER.format(name="acme"))
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'settings.yaml'}:") and "invalid YAML" in problem


def test_hidden_directories_and_other_files_are_not_config(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", CUSTOMER.format(name="acme"))
    write(tmp_path, ".reconciler/junk.yaml", "not: [valid")
    write(tmp_path, ".git/x.yaml", "not: [valid")
    write(tmp_path, "customers/.draft/x.yaml", "not: [valid")
    write(tmp_path, "README.md", "# notes")
    write(tmp_path, "templates/welcome.txt", "Hello")
    assert [p.relative_to(tmp_path).as_posix() for p in config_files(tmp_path)] == [
        "acme.yaml",
        "settings.yaml",
    ]
    assert list(load_config(tmp_path).customers) == ["acme"]


def test_comment_only_and_empty_files_hold_no_documents(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", "---\n" + CUSTOMER.format(name="acme") + "---\n")
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "notes.yaml", "# nothing yet\n")
    assert list(load_config(tmp_path).customers) == ["acme"]


def test_problems_of_all_files_are_collected_and_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", CUSTOMER.format(name="b") + "spec: {pasued: true}\n")
    write(tmp_path, "a.yaml", "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: A}\n")
    write(tmp_path, "c.yaml", "key: [unclosed\n")
    got = problems(tmp_path)
    assert [p.split(": ", 1)[0] for p in got] == [
        f"{tmp_path / 'a.yaml'}:3:12",
        f"{tmp_path / 'b.yaml'}:5:8",
        f"{tmp_path / 'c.yaml'}:2:1",
    ]
    assert "metadata.name: must be lowercase letters, digits and '-'" in got[0]
    assert "unknown field 'spec.pasued'" in got[1]
    assert "invalid YAML" in got[2]


def test_duplicate_names_are_per_kind(tmp_path: Path) -> None:
    write(tmp_path, "c.yaml", CUSTOMER.format(name="acme"))
    write(tmp_path, "p.yaml", POLICY.format(kind="ImportPolicy", name="acme"))
    write(tmp_path, "q.yaml", POLICY.format(kind="AdminImportPolicy", name="acme"))
    load_config(tmp_path)  # one name, three kinds: fine
    write(tmp_path, "r.yaml", POLICY.format(kind="ImportPolicy", name="acme"))
    assert problems(tmp_path) == [
        f"{tmp_path / 'r.yaml'}:3:12: duplicate ImportPolicy name 'acme' (first defined at {tmp_path / 'p.yaml'}:3)"
    ]


def test_snake_case_python_names_are_not_yaml_names(tmp_path: Path) -> None:
    write(tmp_path, "c.yaml", CUSTOMER.format(name="acme") + "spec:\n  import_policy: std\n")
    assert problems(tmp_path) == [
        f"{tmp_path / 'c.yaml'}:6:3: unknown field 'spec.import_policy' (did you mean 'importPolicy'?)"
    ]


def test_missing_or_empty_config_directory(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [f"config directory {tmp_path / 'nope'} does not exist"]
    assert problems(tmp_path) == [f"no YAML files in {tmp_path}: is this the config directory?"]


def test_digest_changes_with_the_parsed_content_only(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", CUSTOMER.format(name="acme"))
    first = load_config(tmp_path).digest
    assert load_config(tmp_path).digest == first
    os.utime(tmp_path / "acme.yaml", (0, 0))  # timestamps do not count
    assert load_config(tmp_path).digest == first
    write(tmp_path, "acme.yaml", CUSTOMER.format(name="acme") + "  labels: {a: b}\n")
    second = load_config(tmp_path).digest
    assert second != first
    (tmp_path / "acme.yaml").rename(tmp_path / "acme2.yaml")  # the documents are the same (#17)
    assert load_config(tmp_path).digest == second


def test_load_valid_config_runs_the_rules_too(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.yaml",
        POLICY.format(kind="ImportPolicy", name="std") + "  appliesTo: {customers: [ghost]}\n",
    )
    load_config(tmp_path)  # structurally fine
    with pytest.raises(ConfigError) as err:
        load_valid_config(tmp_path)
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / 'p.yaml'}:7:27: unknown customer 'ghost' (R20)"
    ]
    assert err.value.exit_code == 1


def test_a_symlink_out_of_the_config_directory_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path, "outside/secret.yaml", "token: abc123\n")
    root = tmp_path / "config"
    write(root, "acme.yaml", CUSTOMER.format(name="acme"))
    (root / "inside.yaml").symlink_to(root / "acme.yaml")  # inside: loaded (and a duplicate here)
    (root / "evil.yaml").symlink_to(outside)
    assert problems(root) == [
        f"{root / 'evil.yaml'}: a symbolic link to a file outside the config directory; refused",
        f"{root / 'inside.yaml'}:4:3: duplicate Customer name 'acme' (first defined at {root / 'acme.yaml'}:4)",
    ]


def test_an_oversized_file_is_refused_without_being_read(tmp_path: Path) -> None:
    write(tmp_path, "settings.yaml", SETTINGS)
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:  # sparse: 2 GB that would take seconds and memory to read
        f.truncate(2 * 1024**3)
    started = time.monotonic()
    (problem,) = problems(tmp_path)
    assert "over the 1000000-byte limit" in problem
    assert time.monotonic() - started < 1
