"""Contract: the simulator and the client only use Graph paths and user fields that
Microsoft's published metadata has (tests/data/graph, see its README)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reconciler.providers.graph.client import MEMBER_SELECT, USER_SELECT
from reconciler.testing.graph_directory import (
    DEFAULT_USER_SELECT,
    GROUP_PROPERTIES,
    USER_PROPERTIES,
    new_user,
)

CSDL = Path(__file__).resolve().parents[1] / "data" / "graph" / "v1.0-users-groups.csdl.xml"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


class Metadata:
    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        self.types: dict[str, ET.Element] = {}
        for el in root.iter():
            if el.tag in (f"{EDM}EntityType", f"{EDM}ComplexType"):
                self.types[el.get("Name", "")] = el
        self.root = root

    def properties(self, type_name: str) -> dict[str, str]:
        """Structural properties of a type with those of its base types: name -> Edm type."""
        out: dict[str, str] = {}
        name: str | None = type_name
        while name:
            el = self.types[name]
            for prop in el.findall(f"{EDM}Property"):
                out[prop.get("Name", "")] = prop.get("Type", "")
            base = el.get("BaseType")
            name = base.split(".", 1)[1] if base else None
        return out

    def navigation(self, type_name: str) -> set[str]:
        return {p.get("Name", "") for p in self.types[type_name].findall(f"{EDM}NavigationProperty")}

    def paths(self) -> set[str]:
        """The OpenAPI paths this metadata yields, for the parts we use (entity sets,
        bound delta functions, group navigation), as the OpenAPI converter writes them."""
        out: set[str] = set()
        sets = {
            s.get("EntityType", "").rsplit(".", 1)[1]: s.get("Name", "")
            for s in self.root.iter(f"{EDM}EntitySet")
        }
        for type_name, set_name in sets.items():
            out |= {f"/{set_name}", f"/{set_name}/{{{type_name}-id}}"}
            for nav in self.navigation(type_name):
                out.add(f"/{set_name}/{{{type_name}-id}}/{nav}")
        for fn in self.root.iter(f"{EDM}Function"):
            binding = fn.find(f"{EDM}Parameter")
            if fn.get("IsBound") == "true" and binding is not None:
                bound = binding.get("Type", "")
                if bound.startswith("Collection(graph."):
                    type_name = bound[len("Collection(graph.") : -1]
                    if type_name in sets:
                        out.add(f"/{sets[type_name]}/{fn.get('Name')}()")
        return out


@pytest.fixture(scope="module")
def meta() -> Metadata:
    return Metadata(CSDL)


def test_simulator_paths_exist_in_graph(meta: Metadata) -> None:
    paths = meta.paths()
    for path in ("/users", "/users/{user-id}", "/users/delta()", "/groups/{group-id}/members",
                 "/groups/{group-id}/transitiveMembers"):  # fmt: skip
        assert path in paths, path


def test_simulator_user_fields_exist_with_the_right_types(meta: Metadata) -> None:
    user = meta.properties("user")
    missing = [p for p in USER_PROPERTIES if p not in user]
    assert not missing
    assert set(DEFAULT_USER_SELECT) <= set(user)
    assert set(USER_SELECT) <= set(user)
    assert set(MEMBER_SELECT) <= set(user)
    assert set(GROUP_PROPERTIES) <= set(meta.properties("group"))
    expected = {
        "id": "Edm.String",
        "accountEnabled": "Edm.Boolean",
        "assignedLicenses": "Collection(graph.assignedLicense)",
        "proxyAddresses": "Collection(Edm.String)",
        "onPremisesImmutableId": "Edm.String",
        "onPremisesSyncEnabled": "Edm.Boolean",
        "businessPhones": "Collection(Edm.String)",
        "createdDateTime": "Edm.DateTimeOffset",
    }
    assert {k: user[k] for k in expected} == expected


def test_simulated_values_have_the_published_shape(meta: Metadata) -> None:
    user = meta.properties("user")
    sample = new_user("ada@contoso.test")
    for name, value in sample.items():
        kind = user[name]
        if kind.startswith("Collection("):
            assert isinstance(value, list), name
        elif kind == "Edm.Boolean":
            assert value is None or isinstance(value, bool), name
        else:
            assert value is None or isinstance(value, str), name
    license_fields = set(meta.properties("assignedLicense"))
    assert all(set(lic) == license_fields for lic in sample["assignedLicenses"])
