"""Config stage: the titles the JSON Schemas give each setting, for editors' hover text.

pydantic titles a field `passwordEntryMatching` "Passwordentrymatching" (from the
camelCase alias) and a model by its class name ("ImportPolicyDoc"). Editors show
the title above the description, so it should read as words: "Password entry
matching", "Import policy", with acronyms and product names as people write them
("SKUs", "Base DN", "IT Glue organization ID"). Used by `config.base.Model`.
"""

from __future__ import annotations

import re
from typing import Any

# how a word is written when it is not an ordinary word
_WORDS = {
    "ad": "AD",
    "api": "API",
    "autotask": "Autotask",
    "ca": "CA",
    "connectwise": "ConnectWise",
    "dn": "DN",
    "dsn": "DSN",
    "entra": "Entra",
    "graph": "Graph",
    "halo": "Halo",
    "hudu": "Hudu",
    "http": "HTTP",
    "https": "HTTPS",
    "iana": "IANA",
    "id": "ID",
    "ids": "IDs",
    "itglue": "IT Glue",
    "ou": "OU",
    "ous": "OUs",
    "pem": "PEM",
    "pim": "PIM",
    "psa": "PSA",
    "sku": "SKU",
    "skus": "SKUs",
    "smtp": "SMTP",
    "tls": "TLS",
    "upn": "UPN",
    "upns": "UPNs",
    "url": "URL",
}
# product names written as one word in class names
_JOINED = {"ItGlue": "Itglue", "ConnectWise": "Connectwise", "Itglue": "Itglue", "Connectwise": "Connectwise"}
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|\d+")


def sentence(words: list[str]) -> str:
    """'password entry matching' -> 'Password entry matching', keeping acronyms and names."""
    out = [_WORDS.get(w.lower(), w.lower()) for w in words if w]
    if out and out[0] == out[0].lower():
        out[0] = out[0][0].upper() + out[0][1:]
    return " ".join(out)


def field_title(name: str, info: Any = None) -> str:
    """A field's title from its YAML name (the alias: `schema`, not `db_schema`),
    else its Python name (`import_` -> 'Import')."""
    alias = getattr(info, "alias", None)
    if isinstance(alias, str) and alias:
        return sentence(_CAMEL.findall(_joined(alias[0].upper() + alias[1:])))
    return sentence(name.strip("_").split("_"))


def _joined(name: str) -> str:
    for joined, one in _JOINED.items():
        name = name.replace(joined, one)
    return name


def model_title(cls: type) -> str:
    """A model's title from its class name, without the `Doc` of the document models."""
    return sentence(_CAMEL.findall(_joined(cls.__name__.removesuffix("Doc"))))


def enum_title(class_name: str) -> str:
    """'TlsMode' -> 'TLS mode' (pydantic titles enums by class name, with no hook)."""
    return sentence(_CAMEL.findall(_joined(class_name)))
