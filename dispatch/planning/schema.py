"""The planning contract as a JSON Schema (``relief plan --schema``), from the pydantic models.

One document: ``$defs`` holds every model; the document itself accepts either a scenario or
a plan (``anyOf``), and a tool can validate one kind with ``#/$defs/Scenario`` or
``#/$defs/Plan``. The models are the
authority; docs/planning.md describes what the fields mean.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from dispatch.planning.plan import CONTRACT_VERSION, Plan
from dispatch.planning.problem import Scenario


def contract_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the scenario (input) and the plan (output)."""
    refs, document = models_json_schema(
        [(Scenario, "validation"), (Plan, "serialization")],
        ref_template="#/$defs/{model}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://relief.local/schema/planning-contract-v{CONTRACT_VERSION}.json",
        "title": f"relief planning contract, version {CONTRACT_VERSION}",
        "description": "A scenario (planning input) or a plan (output); see docs/planning.md. "
        "A scenario without contract_version is version 1.",
        "anyOf": [refs[(Scenario, "validation")], refs[(Plan, "serialization")]],
        "$defs": document.get("$defs", {}),
    }
