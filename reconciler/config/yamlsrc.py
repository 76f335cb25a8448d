"""Config stage: safe YAML that remembers where every value came from.

Each document becomes plain data plus a map from its path (keys and list
indexes) to (line, column), so every later error can say `file:line:col`.
Hostile input is refused early: files over a size limit, duplicate keys,
alias expansion beyond a node budget (billion laughs), and non-safe tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000

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
            if (isinstance(data, dict) and part in data) or (
                isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
            ):
                data = data[part] if isinstance(data, dict) else data[int(part)]
                walked.append(part)
        probe: Path_ = tuple(walked)
        while probe not in self.locations and probe:
            probe = probe[:-1]
        line, col = self.locations.get(probe, (self.line, 1))
        return Problem("", self.file, line, col)

    def problem(self, path: Path_, message: str) -> Problem:
        at = self.where(path)
        return Problem(message, at.file, at.line, at.column)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit


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
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    problems: list[Problem] = []
    budget = _Budget(MAX_NODES)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            locations: dict[Path_, tuple[int, int]] = {}
            data = _build(loader, node, (), locations, budget, display, problems)
            line = node.start_mark.line + 1
            docs.append(Document(data, display, index, line, locations))
            index += 1
    except _TooBig:
        return [], [
            Problem(f"document expands to more than {MAX_NODES} nodes (alias bomb?); refused", display)
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = f"invalid YAML: {exc.problem or exc.context}"
        if mark is not None:
            return [], [Problem(msg, display, mark.line + 1, mark.column + 1)]
        return [], [Problem(msg, display)]
    except yaml.YAMLError as exc:
        return [], [Problem(f"invalid YAML: {exc}", display)]
    finally:
        loader.dispose()
    return docs, problems


class _TooBig(Exception):
    pass


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path_,
    locations: dict[Path_, tuple[int, int]],
    budget: _Budget,
    display: str,
    problems: list[Problem],
) -> Any:
    budget.left -= 1
    if budget.left < 0:
        raise _TooBig
    locations.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, (str, int)):
                problems.append(
                    Problem(
                        "mapping keys must be strings",
                        display,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                )
                continue
            if key in out:
                problems.append(
                    Problem(
                        f"duplicate key {key!r}",
                        display,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                )
                continue
            child = (*path, key)
            locations[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, child, locations, budget, display, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), locations, budget, display, problems)
            for i, item in enumerate(node.value)
        ]
    value = loader.construct_object(node)
    if not isinstance(value, (str, int, float, bool, type(None))):
        # timestamps, binary and sets become strings: config values are plain text
        return str(node.value)
    return value
