"""Config stage: label selectors, one implementation for the YAML and the CLI.

A selector is a conjunction of requirements on a customer's labels, as in
Kubernetes: `matchLabels` (key = value) and `matchExpressions` with the
operators In, NotIn, Exists and DoesNotExist, in a policy's
`appliesTo.labelSelector`; and kubectl's `-l` text syntax for `--customer`:

    key=value, key==value, key!=value     equality
    key in (a,b), key notin (a,b)         set membership
    key, !key                             the label exists / does not
    a,b                                   every requirement holds

Both become the same `Requirement`s, so a selector means the same in a policy
and on the command line. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from reconciler.config.base import Model
from reconciler.config.values import Labels, Text
from reconciler.errors import ConfigError, Problem

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "Exists":
            return self.key in labels
        if self.op == "DoesNotExist":
            return self.key not in labels
        if self.op == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # NotIn: a missing label matches too


def matches_all(requirements: Iterable[Requirement], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


def from_match_labels(match_labels: Mapping[str, str]) -> tuple[Requirement, ...]:
    return tuple(Requirement(k, "In", frozenset({v})) for k, v in sorted(match_labels.items()))


# --- in YAML: a policy's appliesTo.labelSelector ---------------------------------------


class MatchExpression(Model):
    """One requirement on a label, as in Kubernetes: In / NotIn a set of values, or
    the label Exists / DoesNotExist (then without values). NotIn matches a customer
    without the label too."""

    # what the validator below says, for editors: values exactly when the operator takes them
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "key": {},
                        "operator": {"enum": ["In", "NotIn"]},
                        "values": {"minItems": 1},
                    },
                    "required": ["values"],
                    "additionalProperties": False,
                },
                {
                    "properties": {
                        "key": {},
                        "operator": {"enum": ["Exists", "DoesNotExist"]},
                        "values": {"maxItems": 0},
                    },
                    "additionalProperties": False,
                },
            ]
        }
    )

    key: Text = Field(description="The label key.")
    operator: Operator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: tuple[Text, ...] = Field(default=(), description="For In and NotIn: at least one value.")

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> MatchExpression:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def requirement(self) -> Requirement:
        return Requirement(self.key, self.operator, frozenset(self.values))


class LabelSelector(Model):
    """Customers whose labels meet every matchLabels pair and every matchExpressions
    requirement (Kubernetes label selectors; the same as `--customer` selectors)."""

    match_labels: Labels = Field(default_factory=dict, description="Labels a customer must have, key: value.")
    match_expressions: tuple[MatchExpression, ...] = Field(
        default=(), description="Requirements on labels: In, NotIn, Exists, DoesNotExist."
    )

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def requirements(self) -> tuple[Requirement, ...]:
        return (*from_match_labels(self.match_labels), *(e.requirement() for e in self.match_expressions))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.empty and matches_all(self.requirements(), labels)


# --- on the command line: kubectl's syntax ------------------------------------------------

_KEY = r"[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQ = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<not>!?)\s*(?P<key>{_KEY})\s*$")


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """kubectl's `-l` syntax; a ConfigError naming the selector when it is malformed."""
    out: list[Requirement] = []
    for part in _split(text):
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
            out.append(Requirement(m["key"], "In" if m["op"] == "in" else "NotIn", values))
        elif m := _EQ.match(part):
            out.append(Requirement(m["key"], "NotIn" if m["op"] == "!=" else "In", frozenset({m["value"]})))
        elif m := _EXISTS.match(part):
            out.append(Requirement(m["key"], "DoesNotExist" if m["not"] else "Exists"))
        else:
            raise ConfigError(
                [
                    Problem(
                        f"label selector {text!r}: cannot read {part.strip()!r} "
                        "(use key=value, key!=value, key in (a,b), key notin (a,b), key or !key)"
                    )
                ]
            )
    return tuple(out)


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts
