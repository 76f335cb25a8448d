"""Config stage: the located YAML loader, and hostile input it must refuse quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.yamlsrc import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_documents, parse_documents


def parse_one(text: str) -> tuple[object, dict[tuple[str | int, ...], tuple[int, int]]]:
    docs, problems = parse_documents(text, "f.yaml")
    assert problems == []
    assert len(docs) == 1
    return docs[0].data, docs[0].locations


def messages(text: str) -> list[str]:
    docs, problems = parse_documents(text, "f.yaml")
    assert docs == []
    return [str(p) for p in problems]


# --- locations ---------------------------------------------------------------------------------


def test_every_key_and_list_item_has_its_line_and_column() -> None:
    data, at = parse_one("a:\n  b: 1\n  c:\n  - x\n  -   y\nd: {e: [1, 2]}\n")
    assert data == {"a": {"b": 1, "c": ["x", "y"]}, "d": {"e": [1, 2]}}
    assert at[("a",)] == (1, 1)
    assert at[("a", "b")] == (2, 3)
    assert at[("a", "c", 0)] == (4, 5)
    assert at[("a", "c", 1)] == (5, 7)
    assert at[("d", "e")] == (6, 5)
    assert at[("d", "e", 1)] == (6, 12)


def test_documents_of_one_file_keep_their_own_lines_and_indexes() -> None:
    docs, problems = parse_documents("a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: 3\n", "f.yaml")
    assert problems == []
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [d.index for d in docs] == [0, 1, 2]
    assert [d.line for d in docs] == [1, 3, 7]
    assert docs[2].locations[("c",)] == (7, 1)


def test_trailing_document_marker_is_not_a_document() -> None:
    docs, problems = parse_documents("---\na: 1\n---\n", "f.yaml")
    assert problems == []
    assert [d.data for d in docs] == [{"a": 1}]


def test_where_falls_back_to_the_nearest_known_parent() -> None:
    docs, _ = parse_documents("spec:\n  import:\n    source: entra\n", "f.yaml")
    doc = docs[0]
    # a missing field is reported where its parent is
    assert (doc.where(("spec", "import", "selection")).line, doc.where(("spec", "import")).column) == (2, 3)
    # pydantic union tags in a path are skipped
    assert doc.where(("spec", "function-after[x]", "import", "source")).line == 3
    assert str(doc.problem(("spec",), "boom")) == "f.yaml:1:1: boom"


def test_merge_keys_work_and_an_own_key_overrides_without_a_duplicate_error() -> None:
    data, at = parse_one("base: &base {a: 1, b: 2}\nx:\n  <<: *base\n  b: 3\ny:\n  <<: [{a: 7}, *base]\n")
    assert data == {"base": {"a": 1, "b": 2}, "x": {"a": 1, "b": 3}, "y": {"a": 7, "b": 2}}
    assert at[("x", "b")] == (4, 3)  # the override, not the merged-in base
    assert at[("x", "a")] == (1, 14)  # merged-in values point at their source


def test_only_the_core_schema_loads_dates_and_binary_are_refused() -> None:
    text = 'when: 2024-01-02\nraw: !!binary aGVsbG8=\nat: !!timestamp "2024-01-02"\nok: "2024-01-02"\n'
    docs, problems = parse_documents(text, "f.yaml")
    assert docs == []
    assert [str(p) for p in problems] == [
        "f.yaml:1:7: '2024-01-02' reads as a date in YAML; quote it if it is text",
        "f.yaml:2:6: tag '!!binary' is not allowed; config values are plain text",
        "f.yaml:3:5: tag '!!timestamp' is not allowed; config values are plain text",
    ]
    assert parse_one('ok: "2024-01-02"\n')[0] == {"ok": "2024-01-02"}


def test_a_number_too_long_for_any_config_value_is_located_not_a_crash() -> None:
    for number in ("9" * 5000, "-" + "1" * 40, "1" * 33 + ".5", "0x" + "f" * 40):
        docs, problems = parse_documents(f"a:\n  n: {number}\n", "f.yaml")
        assert docs == []
        assert [str(p) for p in problems] == [
            f"f.yaml:2:6: a number of {len(number)} characters is too long for a config value; refused"
        ]


# --- hostile input -------------------------------------------------------------------------------


def alias_bomb(levels: int = 10) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 30) -> str:
    lines = ["m0: &m0 {x: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [alias_bomb(), merge_bomb()], ids=["aliases", "merge-keys"])
def test_expansion_bombs_are_refused_quickly(text: str) -> None:
    started = time.monotonic()
    assert messages(text) == [
        f"f.yaml: document expands to more than {MAX_NODES} nodes (alias bomb?); refused"
    ]
    assert time.monotonic() - started < 5


def test_aliases_below_the_budget_load() -> None:
    data, _ = parse_one(alias_bomb(levels=3))
    assert isinstance(data, dict)
    assert len(data["a2"]) == 10
    assert data["a2"][9][9] == ["lol"] * 10


def test_duplicate_keys_are_refused_at_the_second_one() -> None:
    assert messages("a: 1\nb:\n  c: 1\n  c: 2\n") == ["f.yaml:4:3: duplicate key 'c'"]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo pwned]\n",
        "a: !!python/object:os.system {x: 1}\n",
        "a: !!python/name:os.system\n",
        "a: !!python/tuple [1, 2]\n",
        "a: !custom x\n",
        "a: !!set {x, y}\n",
        "a: !!omap [{x: 1}]\n",
    ],
)
def test_non_plain_tags_are_refused_not_constructed(text: str) -> None:
    (problem,) = messages(text)
    assert problem.startswith("f.yaml:1:4: tag ")
    assert "is not allowed" in problem


def test_deep_nesting_is_refused_with_its_location() -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    (problem,) = messages(text)
    assert problem == f"f.yaml:1:{MAX_DEPTH + 4}: nesting deeper than {MAX_DEPTH} levels; refused"


def test_very_deep_nesting_does_not_crash_the_parser() -> None:
    depth = 50_000
    assert messages("a: " + "[" * depth + "]" * depth + "\n") == [
        f"f.yaml: nesting deeper than {MAX_DEPTH} levels; refused"
    ]


def test_a_self_referencing_alias_is_refused() -> None:
    (problem,) = messages("a: &a [x, *a]\n")
    assert "nesting deeper than" in problem


def test_control_characters_are_located() -> None:
    assert messages("a: 1\nb: x\x00y\n") == [
        "f.yaml:2:5: invalid YAML: control character #x0000 is not allowed"
    ]


def test_syntax_errors_are_located() -> None:
    (problem,) = messages("a: [1, 2\nb: 3\n")
    assert problem.startswith("f.yaml:2:")
    assert "invalid YAML" in problem


def test_non_string_keys_are_refused() -> None:
    assert messages("? [a, b]\n: 1\n") == ["f.yaml:1:3: mapping keys must be plain strings"]
    assert messages("yes: 1\n") == ["f.yaml:1:1: key 'yes' reads as a boolean in YAML; quote it"]


def test_oversized_file_is_refused_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    started = time.monotonic()
    docs, problems = load_documents(big, "big.yaml")
    assert docs == []
    assert [str(p) for p in problems] == [
        f"big.yaml: file is {big.stat().st_size} bytes, over the {MAX_FILE_BYTES}-byte limit for a config file"
    ]
    assert time.monotonic() - started < 1


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("name: Société\n".encode("latin-1"))
    docs, problems = load_documents(f, "latin1.yaml")
    assert docs == []
    assert [str(p) for p in problems] == ["latin1.yaml: file is not UTF-8 text"]


def test_utf8_with_byte_order_mark_loads(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes("\ufeffname: Société\n".encode())
    docs, problems = load_documents(f, "bom.yaml")
    assert problems == []
    assert docs[0].data == {"name": "Société"}


# --- the same, end to end through the CLI -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (alias_bomb().encode(), "alias bomb"),
        (merge_bomb().encode(), "alias bomb"),
        (b"# x\n" * (MAX_FILE_BYTES // 4 + 1), "-byte limit for a config file"),
        (b"a: " + b"[" * 100_000 + b"]" * 100_000, "nesting deeper than"),
        (b"a: !!python/object/apply:os.system [touch pwned]\n", "is not allowed"),
        (b"a: \xff\xfe\n", "not UTF-8"),
    ],
    ids=["alias-bomb", "merge-bomb", "oversized", "deep", "python-tag", "not-utf8"],
)
def test_cli_refuses_hostile_yaml_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # where `touch pwned` would land
    (tmp_path / "settings.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
    )
    (tmp_path / "evil.yaml").write_bytes(content)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"{tmp_path / 'evil.yaml'}")
    assert message in line
    assert not (tmp_path / "pwned").exists()
