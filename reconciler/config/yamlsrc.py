"""Config stage: safe YAML that remembers where every value came from.

Each document becomes plain data plus a map from its path (keys and list
indexes) to (line, column), so every later error can say `file:line:col`.
Hostile input is refused early: files over a size limit, duplicate keys,
alias or merge-key expansion beyond a node budget (billion laughs), nesting
beyond a depth limit, and any tag beyond YAML's core schema (str, int, float,
bool, null, map, seq): `!!binary`, `!!timestamp` (an unquoted date is one),
`!!set`, `!!python/...`. Numbers too long to be a config value are refused
with their location. Nothing is ever constructed from a tag: collections are
walked here, scalars go through PyYAML's safe constructors only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
# digits of the longest number a config may hold (an id up to 2**63 has 19)
MAX_NUMBER_CHARS = 32

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document with the location of each of its nodes."""

    data: Any
    file: str
    index: int
    line: int
    locations: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> Problem:
        """Problem location for `path`, falling back to its nearest known parent."""
        data: Any = self.data
        walked: list[str | int] = []
        for part in path:
            # pydantic paths can carry union/tag names that are not in the data: skip them
            children = dict(enumerate(data)) if isinstance(data, list) else data
            if isinstance(children, dict) and part in children:
                data = children[part]
                walked.append(part)
        probe: Path_ = tuple(walked)
        while probe not in self.locations and probe:
            probe = probe[:-1]
        line, col = self.locations.get(probe, (self.line, 1))
        return Problem("", self.file, line, col)

    def problem(self, path: Path_, message: str) -> Problem:
        at = self.where(path)
        return Problem(message, at.file, at.line, at.column)


def load_documents(path: Path, display: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one file; never raises for bad input."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [], [Problem(f"cannot read file: {exc.strerror}", display)]
    if size > MAX_FILE_BYTES:
        return [], [
            Problem(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for a config file", display)
        ]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [Problem("file is not UTF-8 text", display)]
    except OSError as exc:
        return [], [Problem(f"cannot read file: {exc.strerror}", display)]
    return parse_documents(text, display)


def parse_documents(text: str, display: str) -> tuple[list[Document], list[Problem]]:
    try:
        return _parse(text, display)
    except _TooBig:
        return [], [
            Problem(f"document expands to more than {MAX_NODES} nodes (alias bomb?); refused", display)
        ]
    except _TooDeep as exc:
        return [], [Problem(f"nesting deeper than {MAX_DEPTH} levels; refused", display, *exc.at)]
    except RecursionError:
        # PyYAML composes recursively: input far deeper than MAX_DEPTH fails inside it
        return [], [Problem(f"nesting deeper than {MAX_DEPTH} levels; refused", display)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = f"invalid YAML: {exc.problem or exc.context}"
        if mark is not None:
            return [], [Problem(msg, display, mark.line + 1, mark.column + 1)]
        return [], [Problem(msg, display)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        msg = f"invalid YAML: control character #x{exc.character:04x} is not allowed"
        return [], [Problem(msg, display, line, col)]
    except yaml.YAMLError as exc:
        return [], [Problem(f"invalid YAML: {exc}", display)]


def _parse(text: str, display: str) -> tuple[list[Document], list[Problem]]:
    loader = yaml.SafeLoader(text)  # raises ReaderError on control characters
    docs: list[Document] = []
    problems: list[Problem] = []
    builder = _Builder(loader, display, problems)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
                continue  # an empty document, e.g. after a trailing `---`
            locations: dict[Path_, tuple[int, int]] = {}
            before = len(problems)
            data = builder.build(node, (), locations, 0)
            if len(problems) == before:  # else its data has holes that would only add noise
                docs.append(Document(data, display, len(docs), node.start_mark.line + 1, locations))
    finally:
        loader.dispose()
    return docs, problems


class _TooBig(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, at: tuple[int, int]) -> None:
        self.at = at


def _short(tag: str) -> str:
    """'tag:yaml.org,2002:binary' -> '!!binary', as it is written in YAML."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _at(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns composed nodes into plain data, spending one unit of budget per node
    visited, so shared (aliased) nodes cost every time they are reached."""

    def __init__(self, loader: yaml.SafeLoader, display: str, problems: list[Problem]) -> None:
        self.loader = loader
        self.display = display
        self.problems = problems
        self.left = MAX_NODES

    def _problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(message, self.display, *_at(node)))

    def build(self, node: yaml.Node, path: Path_, locations: dict[Path_, tuple[int, int]], depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _TooBig
        if depth > MAX_DEPTH:
            raise _TooDeep(_at(node))
        locations.setdefault(path, _at(node))
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self._problem(node, f"tag {_short(node.tag)!r} is not allowed; use plain YAML mappings")
                return None
            return self._mapping(node, path, locations, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._problem(node, f"tag {_short(node.tag)!r} is not allowed; use plain YAML lists")
                return None
            return [self.build(item, (*path, i), locations, depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _TIMESTAMP:
            if node.style is None:  # resolved implicitly from an unquoted value
                self._problem(node, f"{node.value!r} reads as a date in YAML; quote it if it is text")
            else:
                self._problem(node, f"tag {_short(node.tag)!r} is not allowed; config values are plain text")
            return None
        if node.tag not in _SCALAR_TAGS:
            self._problem(node, f"tag {_short(node.tag)!r} is not allowed; config values are plain text")
            return None
        is_number = node.tag.endswith((":int", ":float"))
        if is_number and len(node.value) > MAX_NUMBER_CHARS:
            self._problem(
                node, f"a number of {len(node.value)} characters is too long for a config value; refused"
            )
            return None
        try:
            value = self.loader.construct_object(node)
        except ValueError:  # e.g. an int beyond Python's digit limit; never expected after the check
            self._problem(node, f"{node.value[:40]!r} is not a valid {node.tag.rsplit(':', 1)[1]}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(node, f"{node.value} is not a number a config value can be (no .inf or .nan)")
            return None
        return value

    def _mapping(
        self, node: yaml.MappingNode, path: Path_, locations: dict[Path_, tuple[int, int]], depth: int
    ) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.extend(self._merge_sources(value_node))
                continue
            key = self._key(key_node)
            if key is None:
                continue
            if key in out:
                self._problem(key_node, f"duplicate key {key!r}")
                continue
            child = (*path, key)
            locations[child] = _at(key_node)
            out[key] = self.build(value_node, child, locations, depth + 1)
        # `<<: *base` merge keys: own keys win, then earlier merged mappings win (YAML 1.1).
        # Merged values are built here, under the node budget, never by PyYAML's flatten.
        for source in merges:
            merged_locations: dict[Path_, tuple[int, int]] = {}
            merged = self.build(source, path, merged_locations, depth)
            for key, value in merged.items():
                if key in out:
                    continue
                out[key] = value
                for sub, at in merged_locations.items():
                    if len(sub) > len(path) and sub[len(path)] == key:
                        locations.setdefault(sub, at)
        return out

    def _merge_sources(self, value: yaml.Node) -> list[yaml.Node]:
        items = value.value if isinstance(value, yaml.SequenceNode) else [value]
        if all(isinstance(item, yaml.MappingNode) for item in items):
            return list(items)
        self._problem(value, "a merge key '<<' needs a mapping or a list of mappings")
        return []

    def _key(self, key_node: yaml.Node) -> str | int | None:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
            self._problem(key_node, "mapping keys must be plain strings")
            return None
        key = self.loader.construct_object(key_node)
        if isinstance(key, bool):
            self._problem(key_node, f"key {key_node.value!r} reads as a boolean in YAML; quote it")
            return None
        if not isinstance(key, (str, int)):
            self._problem(key_node, "mapping keys must be plain strings")
            return None
        return key
