"""Config stage: the welcome email's subject and template are checked before
they are sent, once and for ever, to every new user (R16).

A placeholder is a plain name in braces, `{display_name}`; `{{` and `}}` are
literal braces. An unknown name (`{nmae}`) would render as nothing in every
email, so it is an error at its line and column with the closest known name;
so are attribute or index access (`{user.name}`), conversions and format
specs, and unbalanced braces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.config.load import ConfigSet
from reconciler.config.messages import suggest
from reconciler.config.models import ImportSettings

# The fields of an account a template may use (core.model.ACCOUNT_FIELDS; a test
# keeps the two equal) and the customer's name.
PLACEHOLDERS = (  # the order "did you mean" prefers
    "display_name",
    "given_name",
    "surname",
    "customer",
    "upn",
    "sam_account_name",
    "mail",
    "entra_id",
    "ad_guid",
    "password_sync",
    "self_serve",
    "password_remember",
)

SAMPLE = {
    "customer": "acme",
    "upn": "dana.scully@acme.example",
    "sam_account_name": "dscully",
    "mail": "dana.scully@acme.example",
    "given_name": "Dana",
    "surname": "Scully",
    "display_name": "Dana Scully",
    "entra_id": "5f0c2b7e-0000-4000-8000-000000000001",
    "ad_guid": "",
    "password_sync": "False",
    "self_serve": "False",
    "password_remember": "False",
}


MAX_TEMPLATE_BYTES = 256_000


def read_template(path: Path) -> str | None:
    """The template's text, or None when it is too large or not UTF-8."""
    try:
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class TemplateProblem:
    line: int
    column: int
    message: str


def check_placeholders(text: str) -> list[TemplateProblem]:
    """Every problem of a template (or subject) text, with its 1-based line and column."""
    problems: list[TemplateProblem] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        problems += _check_line(line, line_no)
    return problems


def _check_line(line: str, line_no: int) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    i = 0
    while i < len(line):
        if line.startswith(("{{", "}}"), i):
            i += 2
            continue
        if line[i] == "}":
            problems.append(TemplateProblem(line_no, i + 1, "a single '}'; write }} for a literal brace"))
        elif line[i] == "{":
            close = line.find("}", i)
            opened = line.find("{", i + 1)
            if close < 0 or (0 <= opened < close):
                problems.append(
                    TemplateProblem(line_no, i + 1, "a '{' without its '}'; write {{ for a literal brace")
                )
            else:
                problems += _check_field(line[i + 1 : close], line_no, i + 1)
                i = close
        i += 1
    return problems


def _check_field(field: str, line_no: int, col: int) -> list[TemplateProblem]:
    name = field.partition("!")[0].partition(":")[0]
    shown = "{" + field + "}"
    if not name.isidentifier():
        return [
            TemplateProblem(line_no, col, f"placeholder {shown} must be a plain name like {{display_name}}")
        ]
    if name not in PLACEHOLDERS:
        return [TemplateProblem(line_no, col, f"unknown placeholder {shown}{_did_you_mean(name)}")]
    if name != field:
        return [
            TemplateProblem(
                line_no, col, f"placeholder {shown}: conversions and format specs are not supported"
            )
        ]
    return []


def _did_you_mean(name: str) -> str:
    close = suggest(name, PLACEHOLDERS)
    if not close:  # `{nmae}`: close to a part of a name ('display_name', 'given_name')
        for placeholder in PLACEHOLDERS:
            if any(suggest(name, [part]) for part in placeholder.split("_") if len(part) > 2):
                close = f" (did you mean {placeholder!r}?)"
                break
    if close:
        return close.replace("'", "{", 1).replace("'", "}", 1)
    return f"; known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"


def render_sample(text: str) -> str:
    """`text` filled with a sample account (for `validate` to show)."""
    return text.format_map(SAMPLE) if not check_placeholders(text) else text


def welcome_sample(config: ConfigSet) -> tuple[str, str] | None:
    """(subject, body) rendered for a sample account, when some import sends
    welcome emails and the template reads; else None."""
    blocks: list[ImportSettings] = [p.doc.spec for p in config.policies.values()]
    blocks += [p.doc.spec for p in config.admin_policies.values()]
    for cust in config.customers.values():
        blocks += [b for b in (cust.doc.spec.import_, cust.doc.spec.admin_import) if b is not None]
    if not any(b.options.welcome_email for b in blocks):
        return None
    welcome = config.settings_doc.spec.welcome_email
    text = read_template(config.root / welcome.template)
    if text is None:
        return None
    return render_sample(welcome.subject), render_sample(text)
