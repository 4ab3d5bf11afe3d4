"""deploy/kubernetes and compose.yaml: valid against the Kubernetes schemas, and the topology the README
describes (non-root, read-only, probes, egress limited, migrations run once before the replicas).

The Kubernetes schemas come with kubernetes-validate (offline); the base is rendered with
scripts/render_manifests.py, which refuses Kustomize features it does not implement.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]  # oldest still common, newest known


def _renderer() -> Any:
    spec = importlib.util.spec_from_file_location("render_manifests", ROOT / "scripts" / "render_manifests.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _renderer().render
OBJECTS: list[dict[str, Any]] = render(ROOT / "deploy" / "kubernetes")


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [o for o in OBJECTS if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def pod_spec(kind: str) -> dict[str, Any]:
    spec = one(kind)["spec"]
    spec = spec["jobTemplate"]["spec"] if kind == "CronJob" else spec
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_strictly(version: str) -> None:
    kinds = sorted(o["kind"] for o in OBJECTS)
    assert kinds == sorted(
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )
    for manifest in OBJECTS:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_validation_would_catch_a_misspelt_field() -> None:
    broken = copy.deepcopy(one("Deployment"))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: site-\n", encoding="utf-8")
    with pytest.raises(ValueError, match="namePrefix"):
        render(tmp_path)


@pytest.mark.parametrize("kind", ["Deployment", "Job", "CronJob"])
def test_pods_run_non_root_with_a_read_only_root_and_bounded_resources(kind: str) -> None:
    spec = pod_spec(kind)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec.get("initContainers", []):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert set(container["resources"]) == {"requests", "limits"}


def test_probes_liveness_on_healthz_readiness_on_readyz() -> None:
    [container] = pod_spec("Deployment")["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_migration_job_runs_db_upgrade_and_replicas_wait_for_it() -> None:
    job = pod_spec("Job")
    [migrate] = job["containers"]
    assert migrate["command"] == ["cds-service", "db", "upgrade"]
    deployment = pod_spec("Deployment")
    [wait] = deployment["initContainers"]
    assert "cds-service db current" in " ".join(wait["command"])
    [serve] = deployment["containers"]
    assert migrate["image"] == wait["image"] == serve["image"]


def test_settings_and_client_registry_come_from_the_configmap_and_secret() -> None:
    config = one("ConfigMap")
    secret = one("Secret")
    [container] = pod_spec("Deployment")["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    references = [e["valueFrom"]["secretKeyRef"] for e in container["env"]]
    required = {r["key"] for r in references if not r.get("optional")}
    assert required == {"CDS_DATABASE_URL", "CDS_REDIS_URL", "CDS_OPERATOR_TOKEN"}
    assert required <= set(secret["stringData"])
    # The review queue's key is the site's choice (a silent pilot): referenced, optional, never a placeholder.
    assert {r["key"] for r in references if r.get("optional")} == {"CDS_REVIEW_QUEUE_KEY"}
    assert "CDS_REVIEW_QUEUE_KEY" not in secret["stringData"]
    assert config["data"]["CDS_ENVIRONMENT"] == "production"
    assert config["data"]["CDS_REPLAY_CACHE"] == "redis"  # several replicas share the seen jti's
    registry = next(v for v in pod_spec("Deployment")["volumes"] if v["name"] == "client-registry")
    assert registry["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "client-registry")
    assert config["data"]["CDS_CLIENT_REGISTRY_PATH"] == f"{mount['mountPath']}/clients.yaml"
    assert mount["readOnly"] is True


def test_egress_is_only_dns_postgresql_redis_and_the_fhir_servers() -> None:
    policy = one("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "hcc-cds"
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    ports = sorted(port["port"] for rule in policy["egress"] for port in rule["ports"])
    assert ports == [53, 53, 443, 5432, 6379]
    https = next(rule for rule in policy["egress"] if rule["ports"][0]["port"] == 443)
    assert all("ipBlock" in peer and "except" not in peer["ipBlock"] for peer in https["to"])
    assert all(peer["ipBlock"]["cidr"].endswith("/32") for peer in https["to"])  # named servers, not the internet


def test_replicas_are_spread_kept_available_and_autoscaled() -> None:
    deployment = one("Deployment")
    hpa = one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert one("Service")["spec"]["selector"] == selector


def test_compose_runs_two_replicas_on_one_postgresql_and_redis_after_the_migration() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "cds-a", "cds-b"}
    assert services["migrate"]["command"] == ["cds-service", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("cds-a", "cds-b"):
        replica = services[name]
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["environment"]["CDS_REPLAY_CACHE"] == "redis"
        assert "@postgres:5432/" in replica["environment"]["CDS_DATABASE_URL"]
        assert "@redis:6379/" in replica["environment"]["CDS_REDIS_URL"]
        assert replica["read_only"] is True
        assert replica.get("command") is None  # the image's own command: cds-service serve
    assert {services[n]["ports"][0] for n in ("cds-a", "cds-b")} == {"127.0.0.1:8001:8000", "127.0.0.1:8002:8000"}


def settings_environment(secret_values: dict[str, str]) -> dict[str, str]:
    """What the Deployment's container sees: the ConfigMap, then the Secret's keys it maps into its env."""
    [container] = pod_spec("Deployment")["containers"]
    env = dict(one("ConfigMap")["data"])
    for variable in container["env"]:
        reference = variable["valueFrom"]["secretKeyRef"]
        if reference["key"] in secret_values or not reference.get("optional"):
            env[variable["name"]] = secret_values[reference["key"]]
    return env


def production_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from cds_service.config import Settings

    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_metrics_are_scraped_with_the_operator_token_not_by_annotation() -> None:
    template = one("Deployment")["spec"]["template"]
    annotations = template["metadata"].get("annotations", {})
    assert not any(key.startswith("prometheus.io/") for key in annotations)  # they cannot send a token
    assert one("ConfigMap")["data"]["CDS_METRICS_ACCESS"] == "token"
    [container] = template["spec"]["containers"]
    assert {
        "name": "CDS_OPERATOR_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hcc-cds-secrets", "key": "CDS_OPERATOR_TOKEN"}},
    } in container["env"]


def test_the_secret_must_be_filled_the_service_refuses_its_placeholders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pydantic import ValidationError

    from cds_service.cli import registry_problems
    from cds_service.security.registry import load_registry

    shipped = one("Secret")["stringData"]
    with pytest.raises(ValidationError) as refused:
        production_settings(settings_environment(shipped), monkeypatch)
    lines = str(refused.value.errors()[0]["msg"]).removeprefix("Value error, ").splitlines()
    assert lines == [
        f"{name} still holds a template placeholder (REPLACE-ME): set the site's own value"
        for name in ("CDS_DATABASE_URL", "CDS_REDIS_URL", "CDS_OPERATOR_TOKEN")
    ]
    for name in ("clients.yaml", "ehr.jwks.json"):
        (tmp_path / name).write_text(shipped[name], encoding="utf-8")
    registry, keys = load_registry(tmp_path / "clients.yaml")
    [problem] = registry_problems(str(tmp_path / "clients.yaml"), registry.clients, keys)
    assert "has an empty key set: add the EHR's public keys" in problem

    filled = {
        **shipped,
        "CDS_DATABASE_URL": "postgresql+psycopg://hcc_cds:s3cret@postgresql:5432/hcc_cds",
        "CDS_REDIS_URL": "redis://:s3cret@redis:6379/0",
        "CDS_OPERATOR_TOKEN": "0123456789abcdef0123456789abcdef",
    }
    settings = production_settings(settings_environment(filled), monkeypatch)  # the ConfigMap is production-ready
    assert settings.environment == "production"
    assert settings.metrics_access_effective == "token"


def test_the_manifests_run_the_image_of_this_version() -> None:
    from cds_service import __version__

    images = {c["image"] for kind in ("Deployment", "Job", "CronJob") for c in pod_spec(kind)["containers"]}
    images |= {c["image"] for c in pod_spec("Deployment")["initContainers"]}
    assert images == {f"hcc-cds:{__version__}"}


COMPOSE_TEXT = (ROOT / "compose.yaml").read_text(encoding="utf-8")


def test_compose_requires_its_variables_without_placeholder_fallbacks() -> None:
    references = re.findall(r"\$\{([^}]*)\}", COMPOSE_TEXT)
    assert references
    for reference in references:
        assert re.fullmatch(r"[A-Z_]+:\?.+", reference), f"${{{reference}}}: write ${{NAME:?message}}"
    assert "change-me" not in COMPOSE_TEXT.lower()


def test_compose_settings_are_valid_production_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    given = {
        "CDS_PUBLIC_BASE_URL": "https://cds.hospital.example",
        "POSTGRES_PASSWORD": "s3cret",
        "REDIS_PASSWORD": "s3cret",
        "CDS_OPERATOR_TOKEN": "0123456789abcdef0123456789abcdef",
        "CDS_CONFIG_DIR": "/etc/hcc-cds",
    }
    text = re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", lambda m: given[m.group(1)], COMPOSE_TEXT)
    replica = yaml.safe_load(text)["services"]["cds-a"]
    settings = production_settings({k: str(v) for k, v in replica["environment"].items()}, monkeypatch)
    assert settings.environment == "production"
    assert settings.metrics_access_effective == "token"


def test_retention_runs_nightly_with_the_site_default_one_at_a_time() -> None:
    cronjob = one("CronJob")["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    [prune] = pod_spec("CronJob")["containers"]
    assert prune["command"] == ["cds-service", "db", "prune", "--older-than", "730"]  # README "Retention"
    assert [e["valueFrom"]["secretKeyRef"]["key"] for e in prune["env"]] == ["CDS_DATABASE_URL"]
