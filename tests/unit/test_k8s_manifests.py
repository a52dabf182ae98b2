"""``deploy/k8s``: every overlay renders, every object is a valid Kubernetes object, and what the
manifests say matches the code -- the ``PEDIGREE_*`` names, the commands and their flags, the
probe ports, the topic layout, the image's user.

Rendering is ``tests/kustomize.py`` (compared with ``kubectl kustomize`` where installed).
Validation deserializes each object into the ``kubernetes`` client's model of its kind (whose
setters refuse a missing required field) and serializes it back: a field the model does not
know (a typo, a wrong level) is dropped on the way and the comparison fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumers.topics import plan
from pedigree.cli import build_parser
from tests.kustomize import RenderError, render
from tests.unit.test_docs_readme import NOT_CONFIGURATION, variables_in_sources

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RENDERED = ("overlays/dev", "overlays/prod", "jobs")
SECRETS = {
    "pedigree-kafka": {"username", "password"},
    "pedigree-clickhouse": {"url"},
    "pedigree-api-tokens": {"tokens.json"},
}
MODELS = {
    "ConfigMap": "V1ConfigMap",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "PodDisruptionBudget": "V1PodDisruptionBudget",
    "ServiceAccount": "V1ServiceAccount",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "NetworkPolicy": "V1NetworkPolicy",
    "Job": "V1Job",
}
# What each part cannot run without (besides the Kafka SASL pair when the protocol is SASL_*).
NEEDS = {
    "consumer": {"PEDIGREE_KAFKA_BOOTSTRAP", "PEDIGREE_KAFKA_TOPIC", "PEDIGREE_CLICKHOUSE_URL",
                 "PEDIGREE_CLICKHOUSE_DATABASE"},
    "api": {"PEDIGREE_KAFKA_BOOTSTRAP", "PEDIGREE_KAFKA_TOPIC", "PEDIGREE_CLICKHOUSE_URL",
            "PEDIGREE_CLICKHOUSE_DATABASE", "PEDIGREE_API_TOKENS_FILE", "PEDIGREE_API_HOST",
            "PEDIGREE_API_PORT"},
    "watch-k8s": {"PEDIGREE_KAFKA_BOOTSTRAP", "PEDIGREE_KAFKA_TOPIC", "PEDIGREE_SPOOL_DIR"},
    "topics": {"PEDIGREE_KAFKA_BOOTSTRAP", "PEDIGREE_KAFKA_TOPIC"},
    "migrate": {"PEDIGREE_CLICKHOUSE_URL", "PEDIGREE_CLICKHOUSE_DATABASE"},
}  # fmt: skip


def rendered(directory: str) -> list[dict[str, Any]]:
    return render(K8S / directory)


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, container) of every pod template."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                yield obj, container


def by_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def config_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    maps = [o for o in objects if o["kind"] == "ConfigMap"]
    if not maps:  # the jobs kustomization runs with the overlay's ConfigMap
        maps = [by_name(rendered("overlays/prod"), "ConfigMap", "pedigree-config")]
    (found,) = maps
    data: dict[str, str] = found["data"]
    return data


def environment(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, Any]:
    """Every variable the container gets: ConfigMap (envFrom) first, then its own env."""
    names: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "pedigree-config"
        names.update(config_map(objects))
    for item in container.get("env", []):
        names[item["name"]] = item.get("value", item.get("valueFrom"))
    return names


def unknown_pedigree_names(objects: list[dict[str, Any]], known: set[str]) -> set[str]:
    """``PEDIGREE_*`` names set by the manifests that the code does not read."""
    used = {k for o in objects if o["kind"] == "ConfigMap" for k in o.get("data", {})}
    used |= {e["name"] for _, c in containers(objects) for e in c.get("env", [])}
    return {n for n in used if n.startswith("PEDIGREE_")} - known


def read_by_code() -> set[str]:
    return set(variables_in_sources()) - set(NOT_CONFIGURATION)


# -- the renderer ------------------------------------------------------------------------------


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {A: b}\n"
    )
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\ncommonLabels: {a: b}\n")
    with pytest.raises(RenderError, match="commonLabels"):
        render(tmp_path)
    (tmp_path / "patch.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\npatches: [{path: patch.yaml}]"
    )
    with pytest.raises(RenderError, match="ConfigMap x matches 0 objects"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\npatches: [{path: patch.yaml, target: {kind: ConfigMap}}]"
    )
    with pytest.raises(RenderError, match="only `- path: FILE` patches"):
        render(tmp_path)


@pytest.mark.parametrize("directory", [*RENDERED, "base"])
def test_the_renderer_agrees_with_kubectl_kustomize(directory: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the renderer alone is used")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    theirs = [d for d in yaml.safe_load_all(done.stdout) if d]

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(rendered(directory), key=key) == sorted(theirs, key=key)


# -- every object is a valid Kubernetes object -------------------------------------------------


@pytest.mark.parametrize("directory", RENDERED)
def test_every_object_deserializes_into_its_model_with_nothing_left_over(directory: str) -> None:
    from kubernetes.client import ApiClient

    api = ApiClient()
    objects = rendered(directory)
    assert objects
    for obj in objects:
        where = f"{directory}: {obj['kind']} {obj['metadata'].get('name')}"
        assert obj["kind"] in MODELS, f"{where}: no model known for this kind"
        model = api._ApiClient__deserialize(obj, MODELS[obj["kind"]])  # type: ignore[attr-defined]
        assert model.metadata.name, where
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert model.metadata.namespace or directory == "jobs", where
        # serialized back, it is the same object: no field the model does not know
        assert api.sanitize_for_serialization(model) == obj, where


@pytest.mark.parametrize("directory", RENDERED)
def test_workloads_have_the_fields_they_cannot_run_without(directory: str) -> None:
    objects = rendered(directory)
    for obj, container in containers(objects):
        where = f"{directory}: {obj['metadata']['name']}/{container['name']}"
        assert container["image"].startswith("registry.example.com/ml-platform/pedigree:"), where
        assert container["args"], where
        template = obj["spec"]["template"]
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            assert selector.items() <= template["metadata"]["labels"].items(), where
        else:
            assert template["spec"]["restartPolicy"] == "Never", where


# -- what the manifests say matches the code ---------------------------------------------------


@pytest.mark.parametrize("directory", RENDERED)
def test_every_pedigree_variable_in_the_manifests_is_one_the_code_reads(directory: str) -> None:
    objects = rendered(directory)
    assert unknown_pedigree_names(objects, read_by_code()) == set()


def test_the_drift_check_catches_a_misspelt_variable() -> None:
    objects = rendered("overlays/prod")
    by_name(objects, "ConfigMap", "pedigree-config")["data"]["PEDIGREE_KAFKA_BOOTSRAP"] = "k:9092"
    consumer = by_name(objects, "Deployment", "pedigree-consumer")
    consumer["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "PEDIGREE_CLICKHOUSE_DB", "value": "x"}
    )
    found = unknown_pedigree_names(objects, read_by_code())
    assert found == {"PEDIGREE_KAFKA_BOOTSRAP", "PEDIGREE_CLICKHOUSE_DB"}


@pytest.mark.parametrize("directory", RENDERED)
def test_each_part_gets_the_settings_it_needs_and_nothing_is_shadowed(directory: str) -> None:
    objects = rendered(directory)
    shared = config_map(objects)
    for _, container in containers(objects):
        where = f"{directory}: {container['name']}"
        names = environment(objects, container)
        needs = NEEDS[container["name"]]
        assert needs <= set(names), where
        sasl = names.get("PEDIGREE_KAFKA_SECURITY_PROTOCOL", "").startswith("SASL")
        if sasl and "PEDIGREE_KAFKA_BOOTSTRAP" in needs:
            assert {"PEDIGREE_KAFKA_SASL_USERNAME", "PEDIGREE_KAFKA_SASL_PASSWORD"} <= set(names)
        own = {e["name"] for e in container.get("env", [])}
        if container.get("envFrom"):
            assert not own & set(shared), f"{where}: env hides the ConfigMap's {own & set(shared)}"


def test_the_otel_variables_are_ones_the_sdk_reads() -> None:
    import opentelemetry.environment_variables as api_names
    import opentelemetry.sdk.environment_variables as sdk_names

    known = {n for m in (api_names, sdk_names) for n in dir(m) if n.startswith("OTEL_")}
    for directory in RENDERED:
        objects = rendered(directory)
        for _, container in containers(objects):
            used = {n for n in environment(objects, container) if n.startswith("OTEL_")}
            assert used <= known, used - known


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize("directory", RENDERED)
def test_every_container_runs_a_real_pedigree_command(directory: str) -> None:
    parser = build_parser()
    for _, container in containers(rendered(directory)):
        try:
            parsed = parser.parse_args(container["args"])
        except SystemExit:
            pytest.fail(f"{directory}: `pedigree {' '.join(container['args'])}` does not parse")
        assert parsed.command == container["args"][0]
        assert callable(parsed.handler)


@pytest.mark.parametrize("directory", ["overlays/dev", "overlays/prod"])
def test_probes_hit_the_endpoints_the_processes_serve(directory: str) -> None:
    objects = rendered(directory)
    shared = config_map(objects)
    consumer = by_name(objects, "Deployment", "pedigree-consumer")["spec"]["template"]["spec"]
    (worker,) = consumer["containers"]
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports["health"] == int(flag(worker["args"], "--health-port"))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):  # fmt: skip
        assert worker[probe]["httpGet"] == {"path": path, "port": "health"}
    api_pod = by_name(objects, "Deployment", "pedigree-api")["spec"]["template"]["spec"]
    (api,) = api_pod["containers"]
    assert {p["name"]: p["containerPort"] for p in api["ports"]} == {
        "http": int(shared["PEDIGREE_API_PORT"])
    }
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert shared["PEDIGREE_API_HOST"] == "0.0.0.0"  # reachable from the kubelet and the Service
    tokens = shared["PEDIGREE_API_TOKENS_FILE"]
    (mount,) = [m for m in api["volumeMounts"] if m["name"] == "tokens"]
    assert tokens.startswith(mount["mountPath"] + "/")
    (volume,) = [v for v in api_pod["volumes"] if v["name"] == "tokens"]
    assert Path(tokens).name in SECRETS[volume["secret"]["secretName"]]
    service = by_name(objects, "Service", "pedigree-api")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"].items() <= api_pod_labels(objects).items()
    # the API in bus mode, without a consumer of its own (the consumer Deployment is that)
    assert "--no-consume" in api["args"]


def api_pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = by_name(objects, "Deployment", "pedigree-api")["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


def strimzi_topics() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / "strimzi" / "kafkatopic.yaml").read_text()) if d]


@pytest.mark.parametrize("directory", ["overlays/dev", "overlays/prod"])
def test_consumers_fit_the_partitions_and_have_time_to_flush_on_shutdown(directory: str) -> None:
    objects = rendered(directory)
    topics_job = by_name(rendered("jobs"), "Job", "pedigree-topics")
    (creator,) = topics_job["spec"]["template"]["spec"]["containers"]
    partitions = int(flag(creator["args"], "--partitions"))
    assert strimzi_topics()[0]["spec"]["partitions"] == partitions
    consumer = by_name(objects, "Deployment", "pedigree-consumer")
    assert 1 <= consumer["spec"]["replicas"] <= partitions
    pod = consumer["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    batch_seconds = float(flag(worker["args"], "--batch-seconds"))
    # SIGTERM flushes batches at most batch-seconds old, one insert each, then commits
    assert pod["terminationGracePeriodSeconds"] >= max(30, 10 * batch_seconds)
    stale = float(parse_consume(worker["args"]).health_stale_seconds)
    probe = worker["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 30
    assert stale >= 60  # an insert in progress does not read as stuck
    pdb = by_name(objects, "PodDisruptionBudget", "pedigree-consumer")
    assert pdb["spec"]["selector"]["matchLabels"] == consumer["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    api_pdb = by_name(objects, "PodDisruptionBudget", "pedigree-api")
    assert api_pdb["spec"]["selector"]["matchLabels"].items() <= api_pod_labels(objects).items()


def parse_consume(args: list[str]) -> Any:
    return build_parser().parse_args(args)


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", quantity)
    assert match, f"use Ki/Mi/Gi quantities: {quantity}"
    return float(match.group(1)) * units[match.group(2)]


@pytest.mark.parametrize("directory", RENDERED)
def test_every_container_has_requests_and_limits_and_runs_locked_down(directory: str) -> None:
    from tests.unit.test_dockerfile import image_user

    uid = image_user()
    for obj, container in containers(rendered(directory)):
        where = f"{directory}: {container['name']}"
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), where
        assert "memory" in resources["limits"], where
        assert mebibytes(resources["requests"]["memory"]) <= mebibytes(
            resources["limits"]["memory"]
        )
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] == uid, where  # the image's USER
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, where
        if container["name"] != "watch-k8s":  # only the watcher talks to the API server
            assert pod["automountServiceAccountToken"] is False, where


def test_memory_is_sized_from_the_benchmarks() -> None:
    """bench/RESULTS.md: consumer peak RSS 1,330 MiB with the CLI defaults (embedded engine
    included); API peak 569 MiB in the graph benchmark."""
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    assert "**1,330**" in results
    assert "569 MiB" in results
    objects = rendered("overlays/prod")
    limits = {
        c["name"]: mebibytes(c["resources"]["limits"]["memory"]) for _, c in containers(objects)
    }
    requests = {
        c["name"]: mebibytes(c["resources"]["requests"]["memory"]) for _, c in containers(objects)
    }
    assert requests["consumer"] >= 1330 * 1.1  # the measured peak, with headroom
    assert limits["consumer"] >= requests["consumer"]
    assert requests["api"] >= 569 * 1.2
    assert limits["api"] >= requests["api"]


@pytest.mark.parametrize("directory", RENDERED)
def test_secrets_are_referenced_never_inlined(directory: str) -> None:
    objects = rendered(directory)
    assert not [o for o in objects if o["kind"] == "Secret"]
    for key, value in config_map(objects).items():
        assert not re.search(r"PASSWORD|TOKEN$|SECRET", key), key
        assert "@" not in value, f"{key}: credentials in a URL belong in a Secret"
    for obj, container in containers(objects):
        for item in container.get("env", []):
            if re.search(r"PASSWORD|USERNAME|CLICKHOUSE_URL", item["name"]):
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref["key"] in SECRETS[ref["name"]], item
        for volume in obj["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in SECRETS


@pytest.mark.parametrize("directory", ["overlays/dev", "overlays/prod"])
def test_the_watcher_may_only_read_pods_and_jobs(directory: str) -> None:
    objects = rendered(directory)
    allowed = {("", "pods"): {"list", "watch"}, ("batch", "jobs"): {"get"}}
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        granted: dict[tuple[str, str], set[str]] = {}
        for rule in role["rules"]:
            assert "resourceNames" not in rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
        assert granted == allowed, role["metadata"]["name"]
    namespace = by_name(objects, "Deployment", "pedigree-watch-k8s")["metadata"]["namespace"]
    for binding in [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "pedigree-watch-k8s", "namespace": namespace}
        ]
        assert binding["roleRef"]["kind"] == binding["kind"].removesuffix("Binding")
    watcher = by_name(objects, "Deployment", "pedigree-watch-k8s")["spec"]["template"]["spec"]
    assert watcher["serviceAccountName"] == "pedigree-watch-k8s"
    args = watcher["containers"][0]["args"]
    cluster_wide = any(o["kind"] == "ClusterRoleBinding" for o in objects)
    assert ("--all-namespaces" in args) == cluster_wide  # never more than it is granted


@pytest.mark.parametrize("directory", ["overlays/dev", "overlays/prod"])
def test_network_policies_deny_by_default_and_let_the_api_port_in(directory: str) -> None:
    objects = rendered(directory)
    deny = by_name(objects, "NetworkPolicy", "pedigree-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    selected = deny["podSelector"]["matchLabels"].items()
    for obj in objects:
        if obj["kind"] == "Deployment":
            assert selected <= obj["spec"]["template"]["metadata"]["labels"].items()
    ingress = by_name(objects, "NetworkPolicy", "pedigree-api-ingress")["spec"]
    assert ingress["podSelector"]["matchLabels"].items() <= api_pod_labels(objects).items()
    assert ingress["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": int(config_map(objects)["PEDIGREE_API_PORT"])}
    ]
    egress = by_name(objects, "NetworkPolicy", "pedigree-egress")["spec"]["egress"]
    allowed = {p["port"] for rule in egress for p in rule["ports"]}
    kafka_port = int(config_map(objects)["PEDIGREE_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    assert {53, kafka_port, 8123, 8443, 4317} <= allowed


def test_the_strimzi_topics_are_what_pedigree_topics_create_makes() -> None:
    documents = strimzi_topics()
    specs = plan("openlineage.events")  # the defaults of `pedigree topics create`
    assert [d["spec"]["topicName"] for d in documents] == [s.name for s in specs]
    for document, spec in zip(documents, specs, strict=True):
        assert document["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert document["kind"] == "KafkaTopic"
        assert document["metadata"]["labels"]["strimzi.io/cluster"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"])
        assert document["spec"]["partitions"] == spec.partitions
        assert document["spec"]["replicas"] == spec.replication_factor == 3
        assert {k: str(v) for k, v in document["spec"]["config"].items()} == dict(spec.configs)
    assert config_map(rendered("overlays/prod"))["PEDIGREE_KAFKA_TOPIC"] == specs[0].name


def test_the_first_install_selector_picks_the_config_and_policies_before_the_workloads() -> None:
    """docs/kubernetes.md applies `--selector '!app.kubernetes.io/component'` first: the
    ConfigMap the Jobs read and the NetworkPolicies, but no workload (consumers started before
    the migrate Job would migrate a cluster with the single-node DDL)."""
    objects = rendered("overlays/prod")
    first = {
        (o["kind"], o["metadata"]["name"])
        for o in objects
        if "app.kubernetes.io/component" not in o["metadata"].get("labels", {})
    }
    assert ("ConfigMap", "pedigree-config") in first
    assert {kind for kind, _ in first} == {"ConfigMap", "NetworkPolicy"}
