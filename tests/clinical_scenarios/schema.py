"""Print the JSON schema of the scenario format (committed as clinical-scenarios/schema.json)."""

from __future__ import annotations

import json
import sys

from tests.clinical_scenarios.model import Scenario

if __name__ == "__main__":
    sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")
