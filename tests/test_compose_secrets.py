"""compose.yaml cannot start a pilot that anyone can sign for (issue 25, findings 2 and 7): its secrets, its
public URL and its client registry must be given (``${VAR:?...}``: compose refuses to start without them;
no ``change-me``, no example registry by default), and Redis keeps every jti in an append-only file on a
volume, so a used token stays used across a Redis restart."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

COMPOSE_TEXT = (ROOT / "compose.yaml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
REQUIRED = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "CDS_PUBLIC_BASE_URL", "CDS_CONFIG_DIR", "CDS_OPERATOR_TOKEN")


def test_every_variable_is_required_and_none_has_a_default() -> None:
    uses = re.findall(r"\$\{([A-Z_]+)(:?[-?])?", COMPOSE_TEXT)
    assert {name for name, _ in uses} == set(REQUIRED)
    assert all(how == ":?" for _, how in uses), "a ${VAR:-default} could reach production"
    assert "change-me" not in COMPOSE_TEXT
    assert "clients.example.yaml" not in COMPOSE_TEXT.split("x-cds-service")[1]


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = COMPOSE["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"
    assert "--save" not in command or command[command.index("--save") + 1] != ""
    data_dir = command[command.index("--dir") + 1]
    assert any(volume.endswith(f":{data_dir}") for volume in redis["volumes"])
    assert "redis-data" in COMPOSE["volumes"]
