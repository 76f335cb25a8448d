"""Finding the config directory without -c (#17 item 2), through the real entry point:
$RECONCILER_CONFIG_DIR, else the nearest ancestor holding settings.yaml with kind: Settings
(like git finds its repository); nowhere, one clear error and no state file created."""

from __future__ import annotations

from pathlib import Path

from tests.cli.entry import run


def test_validate_from_a_subdirectory_finds_the_repository(quickstart: Path) -> None:
    result = run(["validate"], cwd=quickstart / "customers")
    assert result.code == 0, result.stderr
    assert not (quickstart / "customers" / ".reconciler").exists()


def test_plan_from_the_top_directory_needs_no_flag(quickstart: Path) -> None:
    result = run(["plan"], cwd=quickstart)
    assert result.code == 0, result.stderr
    assert "contoso" in result.stdout


def test_environment_variable_names_the_directory(quickstart: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(["validate"], cwd=elsewhere, extra_env={"RECONCILER_CONFIG_DIR": str(quickstart)})
    assert result.code == 0, result.stderr
    assert not (elsewhere / ".reconciler").exists()


def test_no_repository_anywhere_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text("kind: Customer\n")
    (tmp_path / "settings.yaml").write_text("kind: Customer  # not a Settings document\n")
    result = run(["plan"], cwd=tmp_path)
    assert result.code != 0
    assert "no config directory" in result.stderr and "RECONCILER_CONFIG_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".reconciler").exists()


def test_a_parent_with_unrelated_yaml_is_not_loaded(quickstart: Path, tmp_path: Path) -> None:
    # the parent of the repository holds other YAML; starting inside the repository
    # must load the repository only (not every YAML below the parent)
    (tmp_path / "stray.yaml").write_text("kind: Nonsense\n")
    result = run(["validate"], cwd=quickstart / "policies")
    assert result.code == 0, result.stderr
    assert "stray.yaml" not in result.stderr


def test_an_explicit_directory_without_settings_is_one_error_and_creates_nothing(quickstart: Path) -> None:
    """#17 item 2: `-c customers` (a folder of the repository) said `valid` / `No changes.`
    and left .reconciler/state.db there; now it is one line naming the right directory."""
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"], ["state", "list"]):
        result = run([*command, "-c", "customers"], cwd=quickstart)
        assert result.code == 1, (command, result.stdout, result.stderr)
        (line,) = result.stderr.splitlines()
        assert line == (
            "customers: no Settings document here; a config directory holds exactly one "
            f"(kind: Settings); did you mean -c {quickstart.resolve()}?"
        )
        assert "Traceback" not in result.stderr
        assert not (quickstart / "customers" / ".reconciler").exists()


def test_an_explicit_directory_above_several_repositories_is_one_error(
    quickstart: Path, tmp_path: Path
) -> None:
    import shutil

    above = tmp_path / "above"
    for name in ("eu", "us"):
        shutil.copytree(quickstart, above / name, ignore=shutil.ignore_patterns(".reconciler"))
    result = run(["plan", "-c", str(above)])
    assert result.code == 1
    (line,) = result.stderr.splitlines()
    assert "only one Settings document is allowed" in line and "folder holding several" in line
    assert not (above / ".reconciler").exists()
