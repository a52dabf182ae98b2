"""What Kubernetes knows about the pod a run executes in: placement, image digest, resources.

:func:`read_pod` asks the Kubernetes API (in-cluster configuration, the pod's own service
account) for the pod and its node, with a short timeout, and only when running in a pod.  The
answers are read as plain JSON and turned into a :class:`PodInfo` by the pure
:func:`pod_info_from_json`; :func:`parse_quantity` reads Kubernetes resource quantities.

Reading the node needs ``get`` on ``nodes`` (a ClusterRole); without it (403) the GPU labels of
the node are left out and the rest is kept.  The node labels are the ones NVIDIA's GPU feature
discovery sets: ``nvidia.com/gpu.product``, ``nvidia.com/gpu.count``, ``nvidia.com/gpu.memory``
(MiB).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from emitters.capture import harmless, logger

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "PodInfo",
    "Resources",
    "cpu_cores",
    "image_digest",
    "memory_bytes",
    "parse_quantity",
    "pod_info_from_json",
    "read_pod",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where Kubernetes mounts the pod's service-account token, CA and namespace."""

_GPU_RESOURCE = "nvidia.com/gpu"
_INT_MAX, _LONG_MAX = 2**31 - 1, 2**63 - 1  # what the Avro int / long fields hold
_DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))"  # number
    r"(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|n|u|m|k|M|G|T|P|E)?$"  # binary SI, exponent, decimal SI
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes resource quantity (``500m``, ``2``, ``512Mi``, ``1G``, ``1e3``).

    Raises :class:`ValueError` for anything that is not a quantity.
    """
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from err
    if suffix in _BINARY:
        return value * Decimal(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return value.scaleb(_DECIMAL[suffix])
    return value.scaleb(int(suffix[1:]))  # decimal exponent: e3, E-2


def cpu_cores(text: object) -> float | None:
    """CPU cores of a quantity as a float (``"500m"`` -> 0.5), or ``None`` if not one."""
    value = _non_negative(text)
    return None if value is None else float(value)


def memory_bytes(text: object) -> int | None:
    """Bytes of a quantity (``"512Mi"`` -> 536870912), rounded up as Kubernetes does.

    ``None`` beyond what an Avro ``long`` holds.
    """
    value = _non_negative(text)
    return None if value is None or value > _LONG_MAX else math.ceil(value)


def _count(text: object) -> int | None:
    value = _non_negative(text)
    return None if value is None or value > _INT_MAX else int(value)


def _non_negative(text: object) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        value = parse_quantity(text)
    except ValueError:
        logger.debug("ignoring quantity %r", text)
        return None
    return value if value.is_finite() and value >= 0 else None


@dataclass(frozen=True)
class Resources:
    """Requests or limits of one container."""

    cpu: float | None = None
    """CPU cores (fractional, as Kubernetes allows)."""
    memory_bytes: int | None = None
    gpus: int | None = None
    """``nvidia.com/gpu``."""


@dataclass(frozen=True)
class PodInfo:
    """The pod a run executes in, the container it runs as, and the GPU labels of its node."""

    namespace: str
    pod: str
    node: str | None = None
    service_account: str | None = None
    container: str | None = None
    image: str | None = None
    """The image as the pod spec names it."""
    image_digest: str | None = None
    """``sha256:…`` of the image actually running (from the container status ``imageID``)."""
    requests: Resources = field(default_factory=Resources)
    limits: Resources = field(default_factory=Resources)
    gpu_product: str | None = None
    """Node label ``nvidia.com/gpu.product`` (e.g. ``NVIDIA-A100-SXM4-80GB``)."""
    gpu_count: int | None = None
    """Node label ``nvidia.com/gpu.count``: GPUs on the node."""
    gpu_memory_bytes: int | None = None
    """Node label ``nvidia.com/gpu.memory`` (MiB), in bytes: memory per GPU."""
    owner_kind: str | None = None
    owner_name: str | None = None

    def placement(self) -> dict[str, str]:
        """The ``kubernetes`` part of the ``pedigree_environment`` facet."""
        fields = {
            "namespace": self.namespace,
            "pod": self.pod,
            "node": self.node,
            "serviceAccount": self.service_account,
            "ownerKind": self.owner_kind,
            "ownerName": self.owner_name,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def requested_resources(self) -> dict[str, Any] | None:
        """A ResourceSpec of what the container asked for (requests, else limits)."""
        cpu = self.requests.cpu if self.requests.cpu is not None else self.limits.cpu
        memory = self.requests.memory_bytes
        if memory is None:
            memory = self.limits.memory_bytes
        gpus = self.limits.gpus if self.limits.gpus is not None else self.requests.gpus
        spec: dict[str, Any] = {"cpuCount": cpu, "memoryBytes": memory, "gpuCount": gpus}
        if gpus:
            spec["gpuModel"] = self.gpu_product
            spec["gpuMemoryBytes"] = self.gpu_memory_bytes
        spec = {k: v for k, v in spec.items() if v is not None}
        return spec or None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def image_digest(image_id: object) -> str | None:
    """``sha256:…`` from a container status ``imageID`` that names a registry digest.

    ``docker-pullable://repo@sha256:…`` and ``repo@sha256:…`` give the digest; a bare image ID
    (``sha256:…`` of a local image config, as Docker reports unpulled images) is not a registry
    digest and gives ``None``.
    """
    text = _str(image_id)
    if text is None or "@" not in text:
        return None
    digest = text.rsplit("@", 1)[1]
    return digest if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) else None


def _resources(values: object) -> Resources:
    quantities = _dict(values)
    return Resources(
        cpu=cpu_cores(quantities.get("cpu")),
        memory_bytes=memory_bytes(quantities.get("memory")),
        gpus=_count(quantities.get(_GPU_RESOURCE)),
    )


def _pick_container(pod: Mapping[str, Any], wanted: str | None) -> dict[str, Any]:
    containers = [c for c in _list(_dict(pod.get("spec")).get("containers")) if isinstance(c, dict)]
    annotations = _dict(_dict(pod.get("metadata")).get("annotations"))
    for name in (wanted, _str(annotations.get(_DEFAULT_CONTAINER_ANNOTATION))):
        for container in containers:
            if name and container.get("name") == name:
                return container
    return containers[0] if containers else {}


def pod_info_from_json(
    pod: Mapping[str, Any], node: Mapping[str, Any] | None = None, container: str | None = None
) -> PodInfo | None:
    """A :class:`PodInfo` from the API's Pod JSON (and Node JSON, if readable).

    The container is the one named ``container``, else the pod's
    ``kubectl.kubernetes.io/default-container``, else the first.  ``None`` when the JSON has
    no pod name or namespace.
    """
    meta, spec = _dict(pod.get("metadata")), _dict(pod.get("spec"))
    namespace, name = _str(meta.get("namespace")), _str(meta.get("name"))
    if namespace is None or name is None:
        return None
    chosen = _pick_container(pod, container)
    chosen_name = _str(chosen.get("name"))
    statuses = _list(_dict(pod.get("status")).get("containerStatuses"))
    status = next((s for s in statuses if isinstance(s, dict) and s.get("name") == chosen_name), {})
    owners = [o for o in _list(meta.get("ownerReferences")) if isinstance(o, dict)]
    owner = next((o for o in owners if o.get("controller") is True), owners[0] if owners else {})
    resources = _dict(chosen.get("resources"))
    labels = _dict(_dict(_dict(node).get("metadata")).get("labels"))
    gpu_memory_mib = _count(labels.get("nvidia.com/gpu.memory"))
    return PodInfo(
        namespace=namespace,
        pod=name,
        node=_str(spec.get("nodeName")),
        service_account=_str(spec.get("serviceAccountName")) or _str(spec.get("serviceAccount")),
        container=chosen_name,
        image=_str(chosen.get("image")),
        image_digest=image_digest(status.get("imageID")),
        requests=_resources(resources.get("requests")),
        limits=_resources(resources.get("limits")),
        gpu_product=_str(labels.get("nvidia.com/gpu.product")),
        gpu_count=_count(labels.get("nvidia.com/gpu.count")),
        gpu_memory_bytes=None if gpu_memory_mib is None else gpu_memory_mib * 2**20,
        owner_kind=_str(owner.get("kind")),
        owner_name=_str(owner.get("name")),
    )


def _namespace(env: Mapping[str, str], account_dir: Path) -> str | None:
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        return (account_dir / "namespace").read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as err:
        logger.debug("no pod namespace: %s", err)
        return None


@harmless(None)
def read_pod(
    environ: Mapping[str, str] | None = None,
    api_client: Any = None,
    timeout: float = 2.0,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> PodInfo | None:
    """The pod this process runs in, or ``None`` outside Kubernetes or when the API fails.

    Runs only when ``KUBERNETES_SERVICE_HOST`` is set or an ``api_client``
    (``kubernetes.client.ApiClient``) is given; otherwise it imports nothing and returns at
    once.  Pod name from ``POD_NAME`` or ``HOSTNAME``; namespace from ``POD_NAMESPACE`` or the
    service account's namespace file; container from ``PEDIGREE_CONTAINER``.  Each API call
    waits at most ``timeout`` seconds (the pod and node reads share that budget) and is tried
    once: reading goes through a copy of the client (the in-cluster one, or ``api_client``'s
    configuration and headers) with retries off.
    """
    env = os.environ if environ is None else environ
    if api_client is None and not env.get("KUBERNETES_SERVICE_HOST"):
        return None
    name = env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname()
    namespace = _namespace(env, service_account_dir)
    if not name or not namespace:
        logger.debug("in Kubernetes, but the pod name or namespace is unknown")
        return None

    try:
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
        from urllib3.exceptions import HTTPError
    except ImportError as err:
        logger.debug(
            "in Kubernetes, but cannot read the pod (pip install 'pedigree[emit]'): %s", err
        )
        return None

    errors = (ApiException, ConfigException, HTTPError, OSError, ValueError)
    client = None
    try:
        client = _one_shot_client(api_client, env, service_account_dir)
        api = k8s.CoreV1Api(client)
        deadline = time.monotonic() + timeout
        pod = _get_json(api.read_namespaced_pod(name, namespace, **_raw(deadline)))
        if pod is None:
            return None
        node: dict[str, Any] | None = None
        node_name = _str(_dict(pod.get("spec")).get("nodeName"))
        if node_name:
            try:
                node = _get_json(api.read_node(node_name, **_raw(deadline)))
            except errors as err:  # 403 without a ClusterRole: keep the rest
                logger.debug("cannot read node %s: %s", node_name, _short(err))
        return pod_info_from_json(pod, node, env.get("PEDIGREE_CONTAINER"))
    except errors as err:
        logger.debug("cannot read pod %s/%s: %s", namespace, name, _short(err))
        return None
    finally:
        if client is not None:
            client.close()


def _one_shot_client(api_client: Any, env: Mapping[str, str], account_dir: Path) -> Any:
    """An ApiClient that tries each request once (urllib3 would retry a timeout 3 times).

    A copy of the caller's client configuration and headers, or the in-cluster configuration.
    """
    from kubernetes import client as k8s
    from kubernetes.config.incluster_config import InClusterConfigLoader

    if api_client is not None:
        configuration = copy.deepcopy(api_client.configuration)
    else:
        configuration = k8s.Configuration()
        InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=str(account_dir / "token"),
            cert_filename=str(account_dir / "ca.crt"),
            environ=env,
        ).load_and_set(configuration)
    configuration.retries = 0
    client = k8s.ApiClient(configuration)
    if api_client is not None:
        client.default_headers.update(api_client.default_headers)
        client.cookie = api_client.cookie
    return client


def _raw(deadline: float) -> dict[str, Any]:
    """Call options: the raw response (read as plain JSON) and what is left of the budget."""
    return {"_preload_content": False, "_request_timeout": max(deadline - time.monotonic(), 0.05)}


def _get_json(response: Any) -> dict[str, Any] | None:
    try:
        body = json.loads(response.data)
    finally:
        response.release_conn()
    return body if isinstance(body, dict) else None


def _short(err: BaseException) -> str:
    status = getattr(err, "status", None)
    return f"HTTP {status} {getattr(err, 'reason', '')}" if status else str(err)[:200]
