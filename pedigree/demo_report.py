"""What ``pedigree demo`` does once Pedigree is up: run the pipeline twice, wait for the
lineage to be materialized, and print it — all read back through the HTTP API, as a user
would."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pedigree.demo_pipeline import MODEL_NAME, PipelineResult, run_pipeline
from pedigree.render import render_rerun, render_tree

__all__ = ["Demo", "version_diff"]

FIRST = {"lr": 0.5, "epochs": 300}
SECOND = {"lr": 0.05, "epochs": 60}


def _training(provenance: dict[str, Any]) -> dict[str, Any]:
    runs = [n for n in provenance["nodes"] if n["kind"] == "run"]
    return next(n for n in runs if n["run"]["job"]["name"] == "train")


def version_diff(first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, first value, second value) for everything that differs between two model
    versions' provenance: metrics, training parameters, training inputs, code."""
    rows: list[tuple[str, str, str]] = []
    m1, m2 = first["model"]["metrics"], second["model"]["metrics"]
    for key in sorted(set(m1) | set(m2)):
        if m1.get(key) != m2.get(key):
            rows.append((f"metric {key}", str(m1.get(key)), str(m2.get(key))))
    t1, t2 = _training(first)["run"], _training(second)["run"]
    for key in sorted(set(t1["parameters"]) | set(t2["parameters"])):
        a, b = t1["parameters"].get(key), t2["parameters"].get(key)
        if a != b:
            rows.append((f"parameter {key}", str(a), str(b)))

    def inputs(provenance: dict[str, Any], run_id: str) -> set[str]:
        return {e["origin"] for e in provenance["edges"] if e["destination"] == f"run:{run_id}"}

    i1, i2 = inputs(first, t1["runId"]), inputs(second, t2["runId"])
    rows.append(("training inputs", "same" if i1 == i2 else f"{len(i1 - i2)} only here",
                 "same" if i1 == i2 else f"{len(i2 - i1)} only here"))  # fmt: skip
    c1, c2 = t1["code"].get("gitCommit"), t2["code"].get("gitCommit")
    if c1 != c2:
        rows.append(("code commit", str(c1), str(c2)))
    return rows


class Demo:
    def __init__(self, workdir: Path, base: str, options: Any, say: Callable[[str], None]):
        self.workdir, self.base, self.options, self.say = workdir, base, options, say

    def fetch(self, path: str, **params: Any) -> tuple[int, Any]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - our API
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", "replace")[:300]

    def get(self, path: str, **params: Any) -> Any:
        status, body = self.fetch(path, **params)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return body

    def _emitter(self) -> Any:
        from emitters.client import Emitter
        from emitters.config import EmitterConfig

        if self.options.bootstrap:
            config = EmitterConfig(transport="kafka", kafka_bootstrap=self.options.bootstrap,
                                   kafka_topic=self.options.topic, namespace="demo",
                                   spool_dir=self.workdir / "spool-fallback")  # fmt: skip
        else:
            config = EmitterConfig(transport="spool", spool_dir=Path(self.options.spool_dir),
                                   namespace="demo")  # fmt: skip
        return Emitter(config)

    def _next_version(self) -> int:
        return len(list((self.workdir / "registry").glob(f"{MODEL_NAME}-v*.json"))) + 1

    def pipeline(self, step: str, hyper: dict[str, Any]) -> PipelineResult:
        version = str(self._next_version())
        self.say(f"{step}: model {MODEL_NAME} version {version}, "
                 f"lr={hyper['lr']} epochs={hyper['epochs']}")  # fmt: skip
        emitter = self._emitter()
        try:
            result = run_pipeline(self.workdir, emitter=emitter, lr=hyper["lr"],
                                  epochs=hyper["epochs"], model_version=version,
                                  progress=self.say)  # fmt: skip
        finally:
            emitter.close(10.0)
        return result

    def wait_for(self, result: PipelineResult, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        path = f"/api/v1/runs/{result.pipeline_run}"
        while time.monotonic() < deadline:
            status, body = self.fetch(path)
            if status == 200 and body["run"]["status"] == "COMPLETE":
                return
            time.sleep(0.2)
        raise RuntimeError(f"the lineage of run {result.pipeline_run} was not materialized in "
                           f"{timeout:.0f} s")  # fmt: skip

    def provenance(self, version: str) -> Any:
        return self.get("/api/v1/provenance", model=MODEL_NAME, version=version, depth=12)

    def run_all(self) -> dict[str, Any]:
        first = self.pipeline("[2/5] the pipeline", FIRST)
        second = self.pipeline("[3/5] the pipeline again, other hyperparameters", SECOND)
        self.say("[4/5] materializing the lineage (consumer -> ClickHouse)")
        for result in (first, second):  # with --bus, each pipeline may be on its own partition
            self.wait_for(result)
        prov1 = self.provenance(first.model_version)
        prov2 = self.provenance(second.model_version)
        rerun = self.get(f"/api/v1/runs/{second.train_run}/rerun")
        self.say(f"[5/5] where did {MODEL_NAME} version {second.model_version} come from?\n")
        for line in render_tree(prov2):
            self.say("  " + line)
        self.say(f"\nhow to run its training again (GET /api/v1/runs/{second.train_run}/rerun):")
        for line in render_rerun(rerun):
            self.say("  " + line)
        diff = version_diff(prov1, prov2)
        self.say(f"\nversion {first.model_version} vs version {second.model_version}:")
        for what, a, b in diff:
            self.say(f"  {what:<28} {a:<24} {b}")
        return {
            "models": [first.__dict__, second.__dict__],
            "provenance": prov2,
            "rerun": rerun,
            "diff": [{"what": w, "first": a, "second": b} for w, a, b in diff],
        }

    def print_urls(self, report: dict[str, Any]) -> None:
        second = report["models"][1]
        version, train = second["model_version"], second["train_run"]
        self.say("\nopen (Ctrl-C to stop):")
        self.say(f"  explorer     {self.base}/#/graph?model={MODEL_NAME}&version={version}")
        self.say(
            f"  provenance   {self.base}/api/v1/provenance?model={MODEL_NAME}&version={version}"
        )
        self.say(f"  lineage      {self.base}/api/v1/lineage?nodeId=run:{train}&depth=4")
        self.say(f"  rerun spec   {self.base}/api/v1/runs/{train}/rerun")
        self.say(f"  API docs     {self.base}/docs")
