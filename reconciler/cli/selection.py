"""CLI: which customers a command works on: `--customer` and `--exclude-customer`.

Each value is a customer name or a label selector in kubectl's syntax, so
`--customer plan=standard` means every customer labelled plan=standard:

    key=value, key==value, key!=value     equality
    key in (a,b), key notin (a,b)         set membership
    key, !key                             the label exists / does not
    a,b                                   every requirement holds

A value holding `=`, `!`, `,`, a parenthesis or a space is a selector; anything
else is a name. Values of one option are OR'ed; excludes win. An unknown name or
a selector that matches nobody is an error: an empty selection would look like
"No changes." when it means "nothing was looked at".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click

from reconciler.config.messages import suggest
from reconciler.config.resolve import EffectiveCustomer
from reconciler.errors import ConfigError, Problem

SELECTOR_CHARS = re.compile(r"[=!,() ]")
_KEY = r"[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQ = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<not>!?)\s*(?P<key>{_KEY})\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # In, NotIn, Exists, DoesNotExist (as Kubernetes' matchExpressions)
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "Exists":
            return self.key in labels
        if self.op == "DoesNotExist":
            return self.key not in labels
        if self.op == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # NotIn: a missing label matches too


def is_selector(value: str) -> bool:
    return bool(SELECTOR_CHARS.search(value))


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


def select(
    labels_by_name: Mapping[str, Mapping[str, str]], include: Sequence[str], exclude: Sequence[str] = ()
) -> tuple[str, ...]:
    """The names chosen by `include` (all when empty) minus those of `exclude`, sorted."""
    chosen = _matching(labels_by_name, include, "--customer") if include else set(labels_by_name)
    if exclude:
        chosen -= _matching(labels_by_name, exclude, "--exclude-customer")
    return tuple(sorted(chosen))


def _matching(
    labels_by_name: Mapping[str, Mapping[str, str]], values: Sequence[str], option: str
) -> set[str]:
    out: set[str] = set()
    problems: list[Problem] = []
    for value in values:
        if not is_selector(value):
            if value in labels_by_name:
                out.add(value)
            else:
                close = suggest(value, labels_by_name)
                problems.append(Problem(f"{option} {value}: unknown customer {value!r}{close}"))
            continue
        requirements = parse_selector(value)
        hits = {n for n, labels in labels_by_name.items() if all(r.matches(labels) for r in requirements)}
        if not hits:
            problems.append(Problem(f"{option} {value!r}: the label selector matches no customer"))
        out |= hits
    if problems:
        raise ConfigError(problems)
    return out


customer_option = click.option(
    "--customer",
    "customers",
    multiple=True,
    metavar="NAME|SELECTOR",
    help="Only this customer, or the customers a label selector matches (plan=standard, "
    "'tier in (gold,silver)', '!legacy'); repeatable.",
)
exclude_option = click.option(
    "--exclude-customer",
    "excluded",
    multiple=True,
    metavar="NAME|SELECTOR",
    help="Leave out this customer or the customers a label selector matches; repeatable.",
)


def chosen(
    customers: Mapping[str, EffectiveCustomer], include: Sequence[str], exclude: Sequence[str]
) -> tuple[str, ...]:
    """The customer names a command works on; () means every customer."""
    if not include and not exclude:
        return ()
    labels = {name: eff.doc.metadata.labels for name, eff in customers.items()}
    names = select(labels, include, exclude)
    if not names:
        raise ConfigError([Problem("the --customer and --exclude-customer options leave no customer")])
    return names
