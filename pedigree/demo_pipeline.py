"""The demo's ML pipeline: small, real, and instrumented with the Pedigree SDK.

Five steps under one ``pipeline`` run, each a run of its own with real inputs and outputs on
disk (versioned by content), parameters, and the code/environment/resource capture the SDK
does by itself:

1. ``generate`` — a synthetic two-class sensor dataset (numpy, fixed seed), and its labels;
2. ``prepare`` — standardize the features and split train/test;
3. ``train`` — logistic regression by gradient descent (numpy), hyperparameters ``lr`` and
   ``epochs``; writes the model artifact;
4. ``evaluate`` — accuracy and log-loss on the held-out split; writes a report;
5. ``register`` — the model version (``pedigree_model`` facet: name, version, metrics, stage);
6. ``deploy`` — "deploys" it: writes a serving manifest naming the model version.

Generating and preparing are skipped when their outputs already exist with the same content
(a second training reuses the exact same dataset versions, as a real team would).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MODEL_NAME", "NAMESPACE", "PipelineResult", "run_pipeline"]

NAMESPACE = "demo"
MODEL_NAME = "demo-classifier"
SEED = 20261129


@dataclass
class PipelineResult:
    model_version: str
    pipeline_run: str
    train_run: str
    register_run: str
    deploy_run: str
    metrics: dict[str, float]
    params: dict[str, Any]


def _generate(path: Path, labels: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(SEED)
    half = rows // 2
    healthy = rng.normal([20.0, 0.5, 1.0], [2.0, 0.1, 0.3], size=(half, 3))
    faulty = rng.normal([24.0, 0.8, 1.6], [2.5, 0.15, 0.4], size=(rows - half, 3))
    features = np.vstack([healthy, faulty])
    label = np.array([0] * half + [1] * (rows - half))
    order = rng.permutation(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels.parent.mkdir(parents=True, exist_ok=True)
    header = "sensor_id,temperature,vibration,current\n"
    lines = [f"{i},{t:.4f},{v:.4f},{c:.4f}\n" for i, (t, v, c) in enumerate(features[order])]
    path.write_text(header + "".join(lines))
    flags = [f"{i},{y}\n" for i, y in enumerate(label[order])]
    labels.write_text("sensor_id,faulty\n" + "".join(flags))


def _load(path: Path, labels: Path) -> tuple[Any, Any]:
    import numpy as np

    x = np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]
    y = np.loadtxt(labels, delimiter=",", skiprows=1)[:, 1]
    return x, y


def _sigmoid(z: Any) -> Any:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-z))


class _Pipeline:
    def __init__(
        self,
        workdir: Path,
        emitter: Any,
        *,
        lr: float,
        epochs: int,
        model_version: str,
        rows: int,
    ) -> None:
        self.workdir, self.emitter = workdir, emitter
        self.lr, self.epochs, self.version, self.rows = lr, epochs, model_version, rows
        data = workdir / "data"
        self.raw, self.labels = data / "raw" / "sensors.csv", data / "raw" / "labels.csv"
        self.train_set = data / "features" / "train.npz"
        self.test_set = data / "features" / "test.npz"
        self.model = workdir / "models" / f"classifier-v{model_version}.npz"
        self.report = workdir / "reports" / f"evaluation-v{model_version}.json"
        self.registry = workdir / "registry" / f"{MODEL_NAME}-v{model_version}.json"
        self.serving = workdir / "serving" / f"{MODEL_NAME}.json"
        self.params = {"model": {"kind": "logistic-regression"}, "optimizer": {"lr": lr,
                       "epochs": epochs}, "data": {"rows": rows, "seed": SEED}}  # fmt: skip
        self.metrics: dict[str, float] = {}
        self.ids: dict[str, str] = {}

    def run(self, job: str, **kwargs: Any) -> Any:
        from emitters.sdk import Run

        return Run(job, namespace=NAMESPACE, emitter=self.emitter, **kwargs)

    def generate(self) -> str:
        with self.run("generate", params={"rows": self.rows, "seed": SEED}) as r:
            if not self.raw.exists():
                _generate(self.raw, self.labels, self.rows)
            r.output(self.raw)
            r.output(self.labels)
        return f"{self.rows} sensors -> {self.raw.relative_to(self.workdir)}"

    def prepare(self) -> str:
        import numpy as np

        with self.run("prepare", params={"test_fraction": 0.25}) as r:
            r.input(self.raw)
            r.labels(self.labels, label_set="sensor-faults", version="v1", task="classification")
            x, y = _load(self.raw, self.labels)
            mean, std = x.mean(axis=0), x.std(axis=0)
            z = (x - mean) / std
            cut = int(len(z) * 0.75)
            self.train_set.parent.mkdir(parents=True, exist_ok=True)
            if not self.train_set.exists():  # the same data: the same dataset versions
                np.savez(self.train_set, x=z[:cut], y=y[:cut], mean=mean, std=std)
                np.savez(self.test_set, x=z[cut:], y=y[cut:])
            r.output(self.train_set)
            r.output(self.test_set)
        return f"train {cut} / test {len(z) - cut} rows"

    def train(self) -> str:
        import numpy as np

        with self.run("train", params={"lr": self.lr, "epochs": self.epochs}) as r:
            self.ids["train"] = r.run_id
            r.input(self.train_set)
            with np.load(self.train_set) as d:
                x, y = d["x"], d["y"]
            w, b = np.zeros(x.shape[1]), 0.0
            for _ in range(self.epochs):
                p = _sigmoid(x @ w + b)
                w -= self.lr * (x.T @ (p - y)) / len(y)
                b -= self.lr * float(np.mean(p - y))
            p = np.clip(_sigmoid(x @ w + b), 1e-9, 1 - 1e-9)
            loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
            self.metrics["train_loss"] = round(float(loss), 6)
            self.model.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.model, w=w, b=b)
            r.output(self.model)
        return f"lr={self.lr} epochs={self.epochs} train loss {self.metrics['train_loss']}"

    def evaluate(self) -> str:
        import numpy as np

        with self.run("evaluate") as r:
            r.input(self.model)
            r.input(self.test_set)
            with np.load(self.model) as m, np.load(self.test_set) as d:
                p = _sigmoid(d["x"] @ m["w"] + float(m["b"]))
                self.metrics["accuracy"] = round(float(np.mean((p > 0.5) == d["y"])), 6)
            self.report.parent.mkdir(parents=True, exist_ok=True)
            self.report.write_text(json.dumps(self.metrics, indent=2))
            r.output(self.report)
        return f"accuracy {self.metrics['accuracy']}"

    def register(self) -> str:
        with self.run("register") as r:
            self.ids["register"] = r.run_id
            r.input(self.model)
            r.input(self.report)
            self.registry.parent.mkdir(parents=True, exist_ok=True)
            entry = {"model": MODEL_NAME, "version": self.version, "artifact": str(self.model)}
            self.registry.write_text(json.dumps({**entry, **self.metrics}))
            r.model(self.registry, name=MODEL_NAME, version=self.version, framework="numpy",
                    stage="production", metrics=self.metrics)  # fmt: skip
        return f"{MODEL_NAME} version {self.version}"

    def deploy(self) -> str:
        with self.run("deploy/demo-classifier") as r:
            self.ids["deploy"] = r.run_id
            r.input(self.registry)
            self.serving.parent.mkdir(parents=True, exist_ok=True)
            self.serving.write_text(json.dumps({"model": MODEL_NAME, "version": self.version}))
            r.output(self.serving)
        return f"serving {self.serving.relative_to(self.workdir)}"


def run_pipeline(
    workdir: Path,
    *,
    emitter: Any,
    lr: float,
    epochs: int,
    model_version: str,
    rows: int = 4000,
    progress: Callable[[str], None] = print,
) -> PipelineResult:
    """Run the pipeline for real, emitting its lineage through ``emitter``."""
    steps = _Pipeline(
        workdir, emitter, lr=lr, epochs=epochs, model_version=model_version, rows=rows
    )
    with steps.run("pipeline", params=steps.params) as pipeline:
        for name in ("generate", "prepare", "train", "evaluate", "register", "deploy"):
            started = time.monotonic()
            detail = getattr(steps, name)()
            progress(f"  {name:<9} {time.monotonic() - started:5.2f} s  {detail}")
    return PipelineResult(
        model_version=model_version,
        pipeline_run=pipeline.run_id,
        train_run=steps.ids["train"],
        register_run=steps.ids["register"],
        deploy_run=steps.ids["deploy"],
        metrics=steps.metrics,
        params=steps.params,
    )
