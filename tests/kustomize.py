"""A small Kustomize renderer for ``deploy/k8s``: the features its kustomizations use, no more.

Kustomize itself is a Go program; the tests render the overlays without it so they run
anywhere, and ``tests/unit/test_k8s_manifests.py`` compares this renderer's output with
``kubectl kustomize`` where that is installed.  What is implemented, in kustomize's order:

* ``resources``: YAML files (several documents each) and directories holding a
  ``kustomization.yaml``, rendered first, recursively;
* ``patches``: ``- path: FILE`` only, strategic-merge patches whose documents name their target
  by ``apiVersion``, ``kind`` and ``metadata.name``; maps merge, ``null`` deletes a key, the
  lists ``containers``, ``initContainers``, ``env``, ``volumes`` (merge key ``name``) and
  ``volumeMounts`` (``mountPath``) merge by key, every other list is replaced -- except
  ``ports``, whose merge key depends on where it is, which is refused;
* ``namespace``: set on every namespaced object, and on ``ServiceAccount`` subjects of role
  bindings that have none;
* ``images``: ``name`` with ``newName``, ``newTag`` and/or ``digest``, on the containers and
  init containers of pod templates.

Anything else -- an unknown kustomization key, a patch with a target selector or an inline
patch, a ``$patch`` directive, a patch that matches no object -- raises :class:`RenderError`,
so the renderer cannot silently render something other than what kustomize would.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CLUSTER_SCOPED", "RenderError", "render"]

Object = dict[str, Any]

KEYS = frozenset({"apiVersion", "kind", "resources", "namespace", "images", "patches"})
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
     "PersistentVolume", "StorageClass", "PriorityClass"}
)  # fmt: skip
_LIST_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
_REFUSED_LISTS = frozenset({"ports"})


class RenderError(Exception):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def render(directory: Path) -> list[Object]:
    """The objects ``kubectl kustomize DIRECTORY`` would print, in resource order."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - KEYS
    if unknown:
        raise RenderError(f"{path}: keys this renderer does not implement: {sorted(unknown)}")
    objects: list[Object] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(render(target))
        elif target.is_file():
            objects.extend(_documents(target))
        else:
            raise RenderError(f"{path}: resource {entry} does not exist")
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise RenderError(f"{path}: only `- path: FILE` patches are implemented: {patch}")
        for document in _documents(directory / patch["path"]):
            _apply_patch(objects, document, f"{directory / patch['path']}")
    if "namespace" in spec:
        for obj in objects:
            _set_namespace(obj, spec["namespace"])
    for image in spec.get("images", []):
        _set_image(objects, image, path)
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if key in seen:
            raise RenderError(f"{path}: {key} is defined twice")
        seen.add(key)
    return objects


def _documents(path: Path) -> list[Object]:
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(
            document
        ):
            raise RenderError(f"{path}: a document without apiVersion, kind and metadata")
    return documents


def _apply_patch(objects: list[Object], patch: Object, where: str) -> None:
    name = patch["metadata"].get("name")
    targets = [
        o
        for o in objects
        if (o["apiVersion"], o["kind"], o["metadata"]["name"])
        == (patch["apiVersion"], patch["kind"], name)
    ]
    if len(targets) != 1:
        raise RenderError(f"{where}: {patch['kind']} {name} matches {len(targets)} objects")
    _merge(targets[0], patch, where)


def _merge(into: Object, patch: Object, where: str) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            raise RenderError(f"{where}: directive {key} is not implemented")
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, where)
        elif isinstance(value, list) and key in _REFUSED_LISTS:
            raise RenderError(f"{where}: patching a `{key}` list is not implemented")
        elif isinstance(value, list) and key in _LIST_KEYS and isinstance(into.get(key), list):
            merge_key = _LIST_KEYS[key]
            existing = {item[merge_key]: item for item in into[key]}
            for item in value:
                if item[merge_key] in existing:
                    _merge(existing[item[merge_key]], item, where)
                else:
                    into[key].append(copy.deepcopy(item))
        else:
            into[key] = copy.deepcopy(value)


def _set_namespace(obj: Object, namespace: str) -> None:
    if obj["kind"] in CLUSTER_SCOPED:
        pass
    else:
        obj["metadata"]["namespace"] = namespace
    if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        for subject in obj.get("subjects", []):
            if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
                subject["namespace"] = namespace


def _pod_spec(obj: Object) -> Object | None:
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        return spec
    if obj["kind"] == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return spec.get("template", {}).get("spec")


def _set_image(objects: list[Object], image: Object, where: Path) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise RenderError(f"{where}: image fields not implemented: {sorted(unknown)}")
    for obj in objects:
        pod = _pod_spec(obj)
        if not pod:
            continue
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            current = container.get("image", "")
            name, tag, digest = _split_image(current)
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{name}:{image['newTag']}"
            else:
                container["image"] = name + (f"@{digest}" if digest else f":{tag}" if tag else "")


def _split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference (a registry port is not a tag)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest
