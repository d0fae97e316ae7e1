"""The Kubernetes manifests in deploy/kubernetes, validated offline.

Core resources (ConfigMap, CronJob, and the FlinkDeployment's pod template as a Pod) are checked against
the Kubernetes OpenAPI schemas that PyPI's kubernetes-validate ships, for a pinned Kubernetes version
and in strict mode (unknown fields fail). The FlinkDeployment, a custom resource, is checked against
``data/flinkdeployment-v1beta1.schema.json``: the operator CRD's fields shopguard uses (its source is
cited in the file). Then the pieces must agree with each other and with the project: the TOML in the
ConfigMap is a valid shopguard configuration, the job's parallelism and checkpoint storage match the
cluster's, the restart strategy is decided in one place, the paths match the job image, and no secret is
written in the repository.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shopguard.config import Versions, from_dict
from shopguard.jobs.flink_environment import restart_strategy_settings

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
SCHEMA = Path(__file__).with_name("data") / "flinkdeployment-v1beta1.schema.json"
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release the core resources are validated against (kubernetes-validate ships its schemas)."""


def documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict:
    (doc,) = [doc for _, doc in documents() if doc["kind"] == kind]
    return doc


def shopguard_toml() -> str:
    return by_kind("ConfigMap")["data"]["shopguard.toml"]


def test_every_manifest_parses_and_names_its_kind():
    assert {p.name for p in MANIFESTS} >= {"flink-deployment.yaml", "retrain-cronjob.yaml", "shopguard-config.yaml"}
    for name, doc in documents():
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"]["name"], name
    assert sorted(doc["kind"] for _, doc in documents()) == ["ConfigMap", "CronJob", "FlinkDeployment"]


@pytest.mark.parametrize(
    "name, doc",
    [(n, d) for n, d in documents() if d["kind"] != "FlinkDeployment"],
    ids=lambda value: value if isinstance(value, str) else value["kind"],
)
def test_core_resources_validate_against_the_kubernetes_schemas(name, doc):
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {error.message} at {list(error.path)}")


def test_the_flink_deployment_matches_the_operators_crd_fields():
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(by_kind("FlinkDeployment")), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_refuses_a_misspelt_field():
    schema = json.loads(SCHEMA.read_text())
    broken = by_kind("FlinkDeployment")
    broken["spec"]["job"]["upgradeMod"] = broken["spec"]["job"].pop("upgradeMode")
    with pytest.raises(jsonschema.ValidationError, match="upgradeMod"):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_the_flink_deployments_pod_template_is_a_valid_pod():
    template = by_kind("FlinkDeployment")["spec"]["podTemplate"]
    pod = {
        "apiVersion": template["apiVersion"],
        "kind": template["kind"],
        "metadata": {"name": "shopguard-detect-template", **template.get("metadata", {})},
        "spec": template["spec"],
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    mounts = {m["name"] for c in template["spec"]["containers"] for m in c.get("volumeMounts", [])}
    assert mounts == {v["name"] for v in template["spec"]["volumes"]}


def test_the_job_runs_the_python_driver_of_this_flink_version_in_application_mode():
    spec = by_kind("FlinkDeployment")["spec"]
    flink = Versions().flink
    assert spec["flinkVersion"] == "v" + "_".join(flink.split(".")[:2])
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{flink}.jar"
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = spec["job"]["args"]
    assert args[args.index("-py") + 1].endswith("/site-packages/shopguard/jobs/detect_job.py")
    assert args[args.index("--config") + 1] == "/etc/shopguard/shopguard.toml"
    python = args[args.index("-pyclientexec") + 1]
    conf = spec["flinkConfiguration"]
    assert python == conf["python.executable"] == conf["python.client.executable"] == "/opt/venv/bin/python"
    assert "python3.11 -m venv /opt/venv" in (ROOT / "docker" / "Dockerfile.job").read_text()
    assert (
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]["shopguard.jobs"]
        == "jobs"
    )  # so the installed job module lives at site-packages/shopguard/jobs/


def test_the_configmap_holds_a_valid_shopguard_configuration_that_agrees_with_the_cluster():
    cfg = from_dict(tomllib.loads(shopguard_toml()), origin="deploy/kubernetes/shopguard-config.yaml")
    spec = by_kind("FlinkDeployment")["spec"]
    conf = spec["flinkConfiguration"]
    assert cfg.job.parallelism == spec["job"]["parallelism"]
    assert cfg.job.prometheus_ports == conf["metrics.reporter.prom.port"]
    assert conf["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    assert conf["state.backend.type"] == "rocksdb"
    # The job sets its own checkpoint storage and state backend; they must be the cluster's.
    if hasattr(cfg.job, "checkpoint_dir"):
        assert cfg.job.checkpoint_dir == conf["execution.checkpointing.dir"]
        assert cfg.job.state_backend == conf["state.backend.type"]
    slots = int(conf["taskmanager.numberOfTaskSlots"])
    assert spec["job"]["parallelism"] % slots == 0
    mounts = {m["mountPath"]: m["name"] for c in spec["podTemplate"]["spec"]["containers"] for m in c["volumeMounts"]}
    assert any(cfg.registry.url.startswith(path) for path in mounts), "the registry is not on a mounted volume"


def test_the_cronjob_and_the_job_share_the_configmap_and_the_model_registry():
    cronjob_pod = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job_pod = by_kind("FlinkDeployment")["spec"]["podTemplate"]["spec"]
    name = by_kind("ConfigMap")["metadata"]["name"]
    for pod in (cronjob_pod, job_pod):
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["configMap"]["name"] == name
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "shopguard-models"


def test_no_secret_is_written_in_the_repository():
    properties = tomllib.loads(shopguard_toml())["kafka"]["client_properties"]
    for key, value in properties.items():
        if "password" in key or "jaas" in key:
            assert value.startswith("${file:") and value.endswith("}"), key
    assert properties["config.providers.file.class"] == "org.apache.kafka.common.config.provider.FileConfigProvider"
    for _, doc in documents():
        assert doc["kind"] != "Secret"


def test_one_place_decides_the_restart_strategy_and_it_is_the_flink_deployment():
    cfg = from_dict(tomllib.loads(shopguard_toml()), origin="deploy/kubernetes/shopguard-config.yaml")
    conf = by_kind("FlinkDeployment")["spec"]["flinkConfiguration"]
    # The job's own restart-strategy keys would override the cluster's: the ConfigMap must set none.
    assert cfg.job.restart_strategy == "cluster" and restart_strategy_settings(cfg.job) == {}
    restart = {key: value for key, value in conf.items() if key.startswith("restart-strategy.")}
    assert restart["restart-strategy.type"] == "exponential-delay"
    options = {
        "initial-backoff",
        "max-backoff",
        "backoff-multiplier",
        "jitter-factor",
        "reset-backoff-threshold",
        "attempts-before-reset-backoff",
    }
    assert {key.removeprefix("restart-strategy.exponential-delay.") for key in restart} - {
        "restart-strategy.type"
    } <= options


def test_the_identifier_salt_comes_from_a_secret_in_the_variable_the_configmap_names():
    cfg = from_dict(tomllib.loads(shopguard_toml()), origin="deploy/kubernetes/shopguard-config.yaml")
    assert cfg.privacy.hash_identifiers
    (container,) = by_kind("FlinkDeployment")["spec"]["podTemplate"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    salt = env[cfg.privacy.salt_env]
    assert "value" not in salt and salt["valueFrom"]["secretKeyRef"]["name"]
