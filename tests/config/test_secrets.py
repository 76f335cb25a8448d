"""Secret references: resolved only on use, from the environment or a file;
errors name the reference, never a value; literal secrets in YAML are refused
and never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.models import SecretRef
from reconciler.config.secretpaths import SecretRoots
from reconciler.errors import SecretError
from reconciler.secrets import MAX_SECRET_FILE_BYTES, resolve

SECRET = "s3cr3t-Value-7f2c9e"


def test_env_reference_resolves_to_a_masked_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITGLUE_API_KEY", SECRET)
    value = resolve(SecretRef(env="ITGLUE_API_KEY"), Path("/nowhere"), "itglue")
    assert value.get_secret_value() == SECRET
    assert SECRET not in str(value)
    assert SECRET not in repr(value)
    assert SECRET not in f"{value}"


def test_file_reference_is_relative_to_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hudu.key").write_text(SECRET + "\n")
    value = resolve(SecretRef(file="secrets/hudu.key"), tmp_path, "hudu")
    assert value.get_secret_value() == SECRET  # the trailing newline of `echo > file` is dropped


def test_an_absolute_file_reference_inside_the_config_directory_resolves(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(SECRET)
    value = resolve(SecretRef(file=str(tmp_path / "key")), tmp_path, "hudu")
    assert value.get_secret_value() == SECRET


# --- where secret files may be (#12) -------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A config dir `cfg`, a secret file next to it, and a `run-secrets` dir for secretDirs."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "elsewhere.key").write_text(SECRET)
    (tmp_path / "run-secrets").mkdir()
    (tmp_path / "run-secrets" / "hudu.key").write_text(SECRET)
    return tmp_path


@pytest.mark.parametrize("how", ["parent", "absolute", "symlink", "symlinked-dir"])
def test_a_secret_file_outside_the_config_directory_is_never_read(outside: Path, how: str) -> None:
    cfg = outside / "cfg"
    ref = {"parent": "../elsewhere.key", "absolute": str(outside / "elsewhere.key")}.get(how, "")
    if how == "symlink":
        (cfg / "innocent.key").symlink_to(outside / "elsewhere.key")
        ref = "innocent.key"
    if how == "symlinked-dir":
        (cfg / "secrets").symlink_to(outside)
        ref = "secrets/elsewhere.key"
    with pytest.raises(SecretError) as err:
        resolve(SecretRef(file=ref), cfg, "hudu apiKey")
    assert str(err.value).startswith(f"hudu apiKey: secret file {ref} is outside the config directory")
    assert SECRET not in str(err.value)


def test_secret_dirs_admit_exactly_their_own_files(outside: Path) -> None:
    cfg = outside / "cfg"
    roots = SecretRoots.of(cfg, ("../run-secrets",))
    for ref in ("../run-secrets/hudu.key", str(outside / "run-secrets" / "hudu.key")):
        assert resolve(SecretRef(file=ref), roots, "hudu").get_secret_value() == SECRET
    with pytest.raises(SecretError, match="outside the config directory"):
        resolve(SecretRef(file="../run-secrets/../elsewhere.key"), roots, "hudu")


SECRET_SETTINGS = """apiVersion: reconciler.dev/v1
kind: Settings
metadata:
  name: msp
spec:
  secretDirs: {dirs}
  connections:
    hudu:
      baseUrl: https://hudu.example/api/v1
      apiKey: {{file: {ref}}}
"""


def test_validate_locates_a_secret_file_outside_and_accepts_secret_dirs(outside: Path) -> None:
    cfg = outside / "cfg"
    settings = cfg / "settings.yaml"
    settings.write_text(SECRET_SETTINGS.format(dirs="[]", ref="../run-secrets/hudu.key"))
    result = CliRunner().invoke(main, ["validate", "-c", str(cfg)])
    assert result.exit_code == 1
    assert result.output == (
        f"{settings}:10:16: secret file ../run-secrets/hudu.key is outside the config directory and every "
        "Settings secretDirs entry (symbolic links followed); refused: keep it in the config directory "
        "or list its directory in secretDirs\n"
    )
    settings.write_text(
        SECRET_SETTINGS.format(dirs=f"[{outside / 'run-secrets'}]", ref="../run-secrets/hudu.key")
    )
    result = CliRunner().invoke(main, ["validate", "-c", str(cfg)])
    assert result.exit_code == 0, result.output


def test_inner_whitespace_and_newlines_are_kept(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
    (tmp_path / "k.pem").write_text(pem + "\r\n")
    assert resolve(SecretRef(file="k.pem"), tmp_path, "graph").get_secret_value() == pem


def test_missing_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SecretError) as err:
        resolve(SecretRef(env="NOT_SET_ANYWHERE"), Path("."), "customer acme: activeDirectory.bindPassword")
    assert str(err.value) == (
        "customer acme: activeDirectory.bindPassword: environment variable NOT_SET_ANYWHERE is not set"
    )
    assert err.value.exit_code == 1


def test_empty_env_var_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPTY_SECRET", "")
    with pytest.raises(SecretError, match="environment variable EMPTY_SECRET is not set"):
        resolve(SecretRef(env="EMPTY_SECRET"), Path("."), "smtp")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as err:
        resolve(SecretRef(file="secrets/none"), tmp_path, "hudu")
    assert str(err.value) == "hudu: secret file secrets/none does not exist"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n", "is empty"),
        (b"\xff\xfe" + SECRET.encode("utf-16-le"), "cannot be read"),
        (SECRET.encode() * (MAX_SECRET_FILE_BYTES // len(SECRET) + 1), "is larger than expected"),
    ],
    ids=["empty", "only-newline", "not-utf8", "too-large"],
)
def test_unusable_secret_files_are_named_but_never_shown(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "key").write_bytes(content)
    with pytest.raises(SecretError) as err:
        resolve(SecretRef(file="key"), tmp_path, "itglue")
    assert message in str(err.value)
    assert "secret file key " in str(err.value)
    assert SECRET not in str(err.value)
    # no chained exception (whose text could quote the content) in a --debug traceback
    assert err.value.__suppress_context__ or err.value.__context__ is None


def test_a_directory_is_not_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(SecretError, match="secret file dir cannot be read"):
        resolve(SecretRef(file="dir"), tmp_path, "itglue")


# --- literals in YAML, through the CLI -------------------------------------------------------------

SETTINGS = """\
apiVersion: reconciler.dev/v1
kind: Settings
metadata:
  name: msp
spec:
  connections:
    itglue:
      apiKey: {value}
"""


@pytest.mark.parametrize(
    "value",
    [
        SECRET,
        f'"{SECRET}"',
        f"|\n        {SECRET}",
        "8675309",  # a numeric secret
        f"[{SECRET}]",
        f"{{value: {SECRET}}}",
        f"{{{SECRET}: x}}",  # pasted as a key
        f"{{env: {SECRET}}}",  # not a variable name
        f"{{env: X, file: {SECRET}}}",
    ],
    ids=["plain", "quoted", "block", "number", "list", "wrong-key", "as-key", "bad-env", "both"],
)
def test_literal_secret_is_refused_and_never_echoed(tmp_path: Path, value: str) -> None:
    (tmp_path / "settings.yaml").write_text(SETTINGS.format(value=value))
    result = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"{tmp_path / 'settings.yaml'}:8:")
    assert ": spec.connections.itglue.apiKey" in line
    secret = value if value == "8675309" else SECRET
    assert secret not in result.output


def test_validate_resolves_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ITGLUE_API_KEY", raising=False)
    (tmp_path / "settings.yaml").write_text(
        SETTINGS.format(value="{env: ITGLUE_API_KEY}").replace("apiKey", "caFile: null\n      apiKey")
    )
    (tmp_path / "acme.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: acme}\nspec:\n"
        "  directories:\n    activeDirectory:\n      server: dc\n      baseDn: DC=acme\n"
        "      bindUser: {file: does/not/exist}\n      bindPassword: {env: ITGLUE_API_KEY}\n"
    )
    result = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert result.exit_code == 0, result.output
