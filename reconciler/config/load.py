"""Config stage: a directory of YAML files -> validated documents (`ConfigSet`).

Structural problems (bad YAML, unknown keys, wrong types, missing fields,
unknown kinds, duplicate names) are all collected and raised together as one
`ConfigError`, each with `file:line:col`. Semantic rules live in `rules.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from reconciler.config.digest import config_digests
from reconciler.config.messages import message
from reconciler.config.models import (
    API_VERSION,
    KINDS,
    AdminImportPolicyDoc,
    CustomerDoc,
    ImportPolicyDoc,
    SettingsDoc,
)
from reconciler.config.yamlsrc import Document, load_documents
from reconciler.errors import ConfigError, Problem

T = TypeVar("T")
MAX_FILES = 10_000


@dataclass(frozen=True)
class Loaded(Generic[T]):
    doc: T
    src: Document


@dataclass(frozen=True)
class ConfigSet:
    root: Path
    settings: Loaded[SettingsDoc] | None
    customers: dict[str, Loaded[CustomerDoc]] = field(default_factory=dict)
    policies: dict[str, Loaded[ImportPolicyDoc]] = field(default_factory=dict)
    admin_policies: dict[str, Loaded[AdminImportPolicyDoc]] = field(default_factory=dict)
    digest: str = ""
    parts: dict[str, str] = field(default_factory=dict)  # digest of each document and the template

    def files(self) -> dict[str, str]:
        """The file each document ("Kind name", as in `parts`) was read from."""
        out: dict[str, str] = {}
        docs = [
            self.settings,
            *self.customers.values(),
            *self.policies.values(),
            *self.admin_policies.values(),
        ]
        for loaded in docs:
            if loaded is not None:
                out[f"{loaded.doc.kind} {loaded.doc.metadata.name}"] = loaded.src.file
        return out

    @property
    def settings_doc(self) -> SettingsDoc:
        if self.settings is not None:
            return self.settings.doc
        return SettingsDoc.model_validate(
            {"apiVersion": API_VERSION, "kind": "Settings", "metadata": {"name": "default"}}
        )


def config_files(root: Path) -> list[Path]:
    """YAML files of a config dir, skipping hidden directories (state, VCS)."""
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in (".yaml", ".yml") and path.is_file():
            out.append(path)
    return out


def load_config(root: Path) -> ConfigSet:
    """Load and structurally validate every document; raise ConfigError with all problems."""
    if not root.is_dir():
        raise ConfigError([Problem(f"config directory {root} does not exist")])
    files = config_files(root)
    if len(files) > MAX_FILES:
        raise ConfigError([Problem(f"more than {MAX_FILES} YAML files in {root}; refused")])
    problems: list[Problem] = []
    docs: list[Document] = []
    real_root = root.resolve()
    for path in files:
        display = str(root / path.relative_to(root))
        if not path.resolve().is_relative_to(real_root):
            problems.append(
                Problem("a symbolic link to a file outside the config directory; refused", display)
            )
            continue
        parsed, errs = load_documents(path, display)
        problems.extend(errs)
        docs.extend(parsed)
    if not files:
        raise ConfigError([Problem(f"no YAML files in {root}: is this the config directory?")])
    settings_problems = _one_settings(root, docs, problems)
    if settings_problems:
        raise ConfigError(settings_problems)

    by_kind: dict[str, dict[str, Loaded[Any]]] = {kind: {} for kind in KINDS}
    for doc in docs:
        model = _validate(doc, problems)
        if model is None:
            continue
        seen = by_kind[model.kind]
        name = model.metadata.name
        if name in seen:
            first = seen[name].src.where(("metadata", "name"))
            problems.append(
                doc.problem(
                    ("metadata", "name"),
                    f"duplicate {model.kind} name {name!r} (first defined at {first.file}:{first.line})",
                )
            )
            continue
        seen[name] = Loaded(model, doc)

    settings = list(by_kind["Settings"].values())
    if problems:
        raise ConfigError(problems)
    digest, parts = config_digests(by_kind, root, settings[0].doc if settings else None)
    return ConfigSet(
        root=root,
        settings=settings[0] if settings else None,
        customers=by_kind["Customer"],
        policies=by_kind["ImportPolicy"],
        admin_policies=by_kind["AdminImportPolicy"],
        digest=digest,
        parts=parts,
    )


def _is_settings(doc: Document) -> bool:
    return isinstance(doc.data, dict) and doc.data.get("kind") == "Settings"


def _one_settings(root: Path, docs: list[Document], parse_problems: list[Problem]) -> list[Problem]:
    """#17: a config directory holds exactly one Settings document. Anything else is
    a wrong directory (a subfolder such as customers/, or a folder above several
    config directories): one clear problem instead of a valid-looking empty run or
    a hundred unrelated errors, raised before anything (state) is created."""
    found = [d for d in docs if _is_settings(d)]
    if len(found) == 1:
        return []
    if len(found) > 1:
        first = found[0]
        return [
            d.problem(
                ("kind",),
                f"only one Settings document is allowed (first at {first.file}:{first.line}); "
                "is this one config directory or a folder holding several?",
            )
            for d in found[1:]
        ]
    if any(Path(p.file).name in SETTINGS_FILES for p in parse_problems):
        return []  # settings.yaml is there but unreadable: its own problems say why
    return [Problem(f"{root}: no Settings document here; {_where_instead(root)}")]


SETTINGS_FILES = ("settings.yaml", "settings.yml")


def _where_instead(root: Path) -> str:
    """A hint at the config directory the user probably meant."""
    real = root.resolve()
    for parent in real.parents:
        if any((parent / name).is_file() for name in SETTINGS_FILES):
            return f"a config directory holds exactly one (kind: Settings); did you mean -c {parent}?"
    below = sorted({p.parent for name in SETTINGS_FILES for p in real.glob(f"*/{name}")})
    if below:
        names = " or ".join(f"-c {root / p.relative_to(real)}" for p in below[:3])
        return f"a config directory holds exactly one (kind: Settings); did you mean {names}?"
    return "a config directory holds exactly one (kind: Settings), usually in settings.yaml"


def _validate(doc: Document, problems: list[Problem]) -> Any:
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem((), "a document must be a mapping with apiVersion, kind, metadata, spec"))
        return None
    kind = data.get("kind")
    if kind not in KINDS:
        known = ", ".join(KINDS)
        if "kind" not in data:
            problems.append(doc.problem((), f"missing required field 'kind'; expected one of {known}"))
        else:
            problems.append(doc.problem(("kind",), f"unknown kind {kind!r}; expected one of {known}"))
        return None
    if data.get("apiVersion") != API_VERSION:
        problems.append(doc.problem(("apiVersion",), f"apiVersion must be {API_VERSION!r}"))
        return None
    try:
        # YAML uses the camelCase names only, as the published schemas say; Python
        # names (import_policy, import_) stay for code that builds models directly
        return KINDS[kind].model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = tuple(err["loc"])
            problems.append(doc.problem(loc, message(KINDS[kind], err)))
        return None
