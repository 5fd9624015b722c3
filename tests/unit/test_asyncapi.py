"""docs/asyncapi.yaml against the code: every declared event type is documented with the same data fields,
every documented type is declared, and every declared type is emitted somewhere."""
from __future__ import annotations

import ast

import yaml

from config.settings import PROJECT_ROOT
from jobs.events import declared_event_types

DOCUMENT = PROJECT_ROOT / "docs" / "asyncapi.yaml"
SOURCES = ("jobs", "etl", "invoicing", "notifications")


def documented() -> dict[str, set[str]]:
    """Each documented message's type and the data fields it requires."""
    spec = yaml.safe_load(DOCUMENT.read_text())
    assert spec["asyncapi"].startswith("3.")
    found = {}
    for name, message in spec["components"]["messages"].items():
        _envelope, own = message["payload"]["allOf"]
        assert own["properties"]["type"]["const"] == name == message["name"]
        found[name] = set(own["properties"]["data"]["required"])
        assert found[name] == set(own["properties"]["data"]["properties"]), name
    assert {channel["address"] for channel in spec["channels"].values()} == set(found)
    return found


def emitted_constants() -> set[str]:
    """Names of the event-type constants passed to emit()/ctx.emit() or declared as a kind's failure_event."""
    names: set[str] = set()
    for path in (path for package in SOURCES for path in sorted((PROJECT_ROOT / package).rglob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called == "emit" and len(node.args) >= 2 and isinstance(node.args[1], ast.Name):
                names.add(node.args[1].id)
            names.update(keyword.value.id for keyword in node.keywords
                         if keyword.arg == "failure_event" and isinstance(keyword.value, ast.Name))
    return names


def declared_constants() -> dict[str, str]:
    """Module-level `NAME = event_type("type", …)` declarations: constant name → event type."""
    constants = {}
    for path in (path for package in SOURCES for path in sorted((PROJECT_ROOT / package).rglob("*.py"))):
        for node in ast.parse(path.read_text(), str(path)).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", "") == "event_type"):
                constants[node.targets[0].id] = node.value.args[0].value  # type: ignore[attr-defined]
    return constants


def test_every_declared_event_type_is_documented_with_its_data_fields() -> None:
    declared = {name: set(kind.data) for name, kind in declared_event_types().items()}
    assert declared == documented()


def test_every_event_type_is_emitted_somewhere() -> None:
    constants = declared_constants()
    assert set(constants.values()) == set(declared_event_types())
    assert {constants[name] for name in emitted_constants() if name in constants} == set(declared_event_types())
