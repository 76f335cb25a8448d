"""Test helpers: the part of OData `$filter` the Graph simulator understands.

Enough to exercise Graph's advanced-query rules: `eq`, `in`, `startswith`,
`any(...)` are basic; `ne`, `not(...)`, `endswith`, `/$count` are advanced (they
need `ConsistencyLevel: eventual` and `$count=true`). Clauses combine with
`and` / `or` and parentheses. String comparisons ignore case, as Graph's do.
Anything else is a `FilterError`, which the simulator answers with 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|([(),:])|([A-Za-z0-9_.$/@+-]+))")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class FilterError(ValueError):
    pass


def parse_filter(text: str) -> tuple[bool, Predicate]:
    """(is advanced, predicate over a user dict) for a `$filter` value ("" = everything)."""
    if not text.strip():
        return False, lambda _user: True
    parser = _Parser(_tokens(text))
    predicate = parser.expr()
    if parser.pos != len(parser.tokens):
        raise FilterError(f"Invalid filter clause: unexpected '{parser.tokens[parser.pos]}'.")
    return parser.advanced, predicate


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"Invalid filter clause: syntax error at position {pos}.")
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return out


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _GUID.match(token):
        return token
    try:
        return int(token)
    except ValueError:
        raise FilterError(f"Invalid filter clause: '{token}' is not a value.") from None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.advanced = False

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token.lower() != expected):
            raise FilterError(f"Invalid filter clause: expected '{expected or 'more'}'.")
        self.pos += 1
        return token

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.peek().lower() == "or":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda u: any(t(u) for t in terms))

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek().lower() == "and":
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda u: all(f(u) for f in factors))

    def factor(self) -> Predicate:
        token = self.take()
        lowered = token.lower()
        if token == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if lowered == "not":
            self.advanced = True
            self.take("(")
            inner = self.expr()
            self.take(")")
            return lambda u: not inner(u)
        if lowered in ("startswith", "endswith"):
            self.advanced = self.advanced or lowered == "endswith"
            self.take("(")
            prop = self.take()
            self.take(",")
            value = _literal(self.take())
            self.take(")")
            test = str.startswith if lowered == "startswith" else str.endswith
            return lambda u: isinstance(u.get(prop), str) and test(u[prop].lower(), str(value).lower())
        if lowered.endswith("/any"):
            return self._any(token[: -len("/any")])
        return self._comparison(token)

    def _comparison(self, prop: str) -> Predicate:
        op = self.take().lower()
        if prop.endswith("/$count"):
            self.advanced = True
            base = prop[: -len("/$count")]

            def value_of(u: dict[str, Any]) -> Any:
                return len(u.get(base) or [])
        else:

            def value_of(u: dict[str, Any]) -> Any:
                return u.get(prop)

        if op == "in":
            self.take("(")
            values = [_literal(self.take())]
            while self.peek() == ",":
                self.take()
                values.append(_literal(self.take()))
            self.take(")")
            return lambda u: any(_same(value_of(u), v) for v in values)
        value = _literal(self.take())
        if op == "eq":
            return lambda u: _same(value_of(u), value)
        if op == "ne":
            self.advanced = True
            return lambda u: not _same(value_of(u), value)
        if op in ("ge", "le", "gt", "lt"):
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "ge": lambda a, b: a >= b,
                "le": lambda a, b: a <= b,
                "gt": lambda a, b: a > b,
                "lt": lambda a, b: a < b,
            }
            compare = ops[op]
            return lambda u: value_of(u) is not None and compare(value_of(u), value)
        raise FilterError(f"Invalid filter clause: unsupported operator '{op}'.")

    def _any(self, prop: str) -> Predicate:
        """`prop/any(x:x/sub eq value)` or `prop/any(x:x eq value)`."""
        self.take("(")
        var = self.take()
        self.take(":")
        path = self.take()
        op = self.take().lower()
        value = _literal(self.take())
        self.take(")")
        if op != "eq" or not (path == var or path.startswith(var + "/")):
            raise FilterError("Invalid filter clause: unsupported lambda expression.")
        sub = path[len(var) + 1 :] if path != var else ""

        def test(u: dict[str, Any]) -> bool:
            for item in u.get(prop) or []:
                candidate = item.get(sub) if sub and isinstance(item, dict) else item
                if _same(candidate, value):
                    return True
            return False

        return test
