"""Regenerate v1.0-users-groups.csdl.xml from Microsoft's published Graph metadata.

Usage: python extract.py path/to/msgraph-metadata/schemas/v1.0-Prod.csdl > v1.0-users-groups.csdl.xml

Keeps, unchanged, the elements our simulator and client rely on: the entity
types entity, directoryObject, user and group, the complex type
assignedLicense, the bound `delta` functions of users and groups, and the
`users` and `groups` entity sets of the entity container.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
TYPES = {"entity", "directoryObject", "user", "group"}
COMPLEX = {"assignedLicense"}
DELTA_BINDINGS = {"Collection(graph.user)", "Collection(graph.group)"}
SETS = {"users", "groups"}


def main(path: str) -> None:
    ET.register_namespace("edmx", EDMX)
    ET.register_namespace("", EDM)
    tree = ET.parse(path)
    for schema in tree.getroot().iter(f"{{{EDM}}}Schema"):
        keep = []
        for el in list(schema):
            tag, name = el.tag.split("}")[1], el.get("Name")
            if tag == "EntityType" and name in TYPES:
                keep.append(el)
            elif tag == "ComplexType" and name in COMPLEX:
                keep.append(el)
            elif tag == "Function" and name == "delta":
                binding = el.find(f"{{{EDM}}}Parameter")
                if binding is not None and binding.get("Type") in DELTA_BINDINGS:
                    keep.append(el)
            elif tag == "EntityContainer":
                for child in list(el):
                    if child.get("Name") not in SETS:
                        el.remove(child)
                keep.append(el)
        for el in list(schema):
            if el not in keep:
                schema.remove(el)
    root = tree.getroot()
    services = root.find(f"{{{EDMX}}}DataServices")
    assert services is not None
    for schema in list(services):
        if schema.get("Namespace") != "microsoft.graph":
            services.remove(schema)
    ET.indent(tree, space="  ")
    tree.write(sys.stdout.buffer, encoding="utf-8", xml_declaration=True)


if __name__ == "__main__":
    main(sys.argv[1])
