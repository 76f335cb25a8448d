"""Helpers for the CI tests: example configs, plans made by the real engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reconciler.config import load_valid_config
from reconciler.core.plan import Plan
from reconciler.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
REFUSAL = ROOT / "tests" / "data" / "refusal"
GOLDEN = ROOT / "tests" / "golden"


def make_plan(config_dir: Path, allow_mass_removal: bool = False) -> Plan:
    engine = Engine.open(load_valid_config(config_dir))
    try:
        return engine.plan(allow_mass_removal=allow_mass_removal)
    finally:
        engine.store.close()


def apply_all(config_dir: Path) -> None:
    engine = Engine.open(load_valid_config(config_dir))
    try:
        engine.apply(engine.plan())
    finally:
        engine.store.close()


def refused_config(tmp: Path) -> Path:
    """The refusal fixture after one apply, with 8 of acme's 12 users gone and a new globex user."""
    work = tmp / "refusal"
    shutil.copytree(REFUSAL, work)
    apply_all(work)
    acme = work / "live" / "acme" / "entra.json"
    data = json.loads(acme.read_text())
    data["users"] = data["users"][:4]
    acme.write_text(json.dumps(data))
    globex = work / "live" / "globex" / "entra.json"
    data = json.loads(globex.read_text())
    new = dict(data["users"][0], id="globex-new", upn="olivia@globex.com", mail="olivia@globex.com")
    data["users"].append(new)
    globex.write_text(json.dumps(data))
    return work
