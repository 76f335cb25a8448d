"""CLI: which customers a command works on: `--customer` and `--exclude-customer`.

Each value is a customer name or a label selector in kubectl's syntax (parsed by
`reconciler.config.selectors`, the same requirements a policy's labelSelector
matchExpressions become), so `--customer plan=standard` means every customer
labelled plan=standard, `--customer 'tier in (gold,silver)'` or `'!legacy'`.

A value holding `=`, `!`, `,`, a parenthesis or a space is a selector; anything
else is a name. Values of one option are OR'ed; excludes win. An unknown name or
a selector that matches nobody is an error: an empty selection would look like
"No changes." when it means "nothing was looked at".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import click

from reconciler.config.messages import suggest
from reconciler.config.resolve import EffectiveCustomer
from reconciler.config.selectors import Requirement, matches_all, parse_selector
from reconciler.errors import ConfigError, Problem

SELECTOR_CHARS = re.compile(r"[=!,() ]")


def is_selector(value: str) -> bool:
    return bool(SELECTOR_CHARS.search(value))


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
        hits = {n for n, labels in labels_by_name.items() if matches_all(requirements, labels)}
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


__all__ = [
    "Requirement",
    "chosen",
    "customer_option",
    "exclude_option",
    "is_selector",
    "parse_selector",
    "select",
]
