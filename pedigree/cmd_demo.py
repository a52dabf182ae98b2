"""``pedigree demo``: a small pipeline's lineage through the embedded path.

For now (until the SDK and the warehouse land) the demo builds the OpenLineage events of a
three-step pipeline — prepare a dataset, train a model on it, register the model — with
Pedigree's ML facets, writes them to the local spool as Avro, reads the spool back and prints
what it holds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a small instrumented pipeline on the embedded default and show its lineage",
        description=__doc__,
        epilog="example:\n  pedigree demo --dir /tmp/pedigree-demo --reset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dir",
        default=os.environ.get("PEDIGREE_HOME", "pedigree-demo"),
        help="where data and the spool go (default: $PEDIGREE_HOME or ./pedigree-demo)",
    )
    parser.add_argument("--reset", action="store_true", help="delete the directory first")
    parser.add_argument("--json", action="store_true", help="print the events as JSON lines")
    parser.set_defaults(handler=run)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(event_type: str, run_id: str, job: str, **extra: Any) -> dict[str, Any]:
    from emitters.facets import PRODUCER

    event: dict[str, Any] = {
        "eventType": event_type,
        "eventTime": _now(),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": extra.pop("run_facets", {})},
        "job": {"namespace": "demo", "name": job},
        "inputs": extra.pop("inputs", []),
        "outputs": extra.pop("outputs", []),
    }
    return event


def _file_dataset(path: Path, **facets: Any) -> dict[str, Any]:
    from emitters.facets import PRODUCER

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    version = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        "datasetVersion": f"sha256:{digest}",
    }
    return {
        "namespace": f"file://{socket.gethostname()}",
        "name": str(path.resolve()),
        "facets": {"version": version, **facets},
    }


def _pipeline(workdir: Path) -> list[dict[str, Any]]:
    """Run the toy pipeline for real (files written, a model fitted) and return its events."""
    from emitters.facets import facet

    root_id, prep_id, train_id = (str(uuid.uuid4()) for _ in range(3))
    parent = {
        "_producer": facet("pedigree_code")["_producer"],
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json",
        "run": {"runId": root_id},
        "job": {"namespace": "demo", "name": "pipeline"},
        "root": {"run": {"runId": root_id}, "job": {"namespace": "demo", "name": "pipeline"}},
    }
    env = facet(
        "pedigree_environment",
        host=socket.gethostname(),
        os=platform.platform(),
        pythonVersion=platform.python_version(),
    )
    events = [_event("START", root_id, "pipeline")]

    raw = workdir / "data" / "points.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    rows = [(x, 2.0 * x + 1.0) for x in range(50)]
    raw.write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in rows))
    events.append(_event("START", prep_id, "prepare", run_facets={"parent": parent}))
    features = workdir / "data" / "features.csv"
    features.write_text("x,y\n" + "".join(f"{x / 49:.6f},{y}\n" for x, y in rows))
    events.append(
        _event(
            "COMPLETE",
            prep_id,
            "prepare",
            run_facets={"parent": parent, "pedigree_environment": env},
            inputs=[_file_dataset(raw)],
            outputs=[_file_dataset(features)],
        )
    )

    lr, epochs = 0.5, 500
    params = {"model.kind": "linear", "optimizer.lr": lr, "optimizer.epochs": epochs}
    events.append(_event("START", train_id, "train", run_facets={"parent": parent}))
    xs = [x / 49 for x, _ in rows]
    ys = [y for _, y in rows]
    w = b = 0.0
    for _ in range(epochs):  # plain gradient descent, really trained
        gw = sum((w * x + b - y) * x for x, y in zip(xs, ys, strict=True)) * 2 / len(xs)
        gb = sum(w * x + b - y for x, y in zip(xs, ys, strict=True)) * 2 / len(xs)
        w, b = w - lr * gw, b - lr * gb
    mse = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys, strict=True)) / len(xs)
    model = workdir / "models" / "linear.json"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(json.dumps({"w": w, "b": b}))
    model_facet = facet(
        "pedigree_model",
        name="demo-linear",
        version="1",
        framework="python",
        stage="candidate",
        metrics={"mse": mse},
    )
    events.append(
        _event(
            "COMPLETE",
            train_id,
            "train",
            run_facets={
                "parent": parent,
                "pedigree_parameters": facet("pedigree_parameters", parameters=params),
                "pedigree_environment": env,
                "pedigree_code": facet(
                    "pedigree_code", entryPoint=sys.argv[0], arguments=sys.argv[1:]
                ),
            },
            inputs=[_file_dataset(features)],
            outputs=[_file_dataset(model, pedigree_model=model_facet)],
        )
    )
    events.append(_event("COMPLETE", root_id, "pipeline"))
    return events


def run(args: argparse.Namespace) -> int:
    from emitters.codec import decode
    from emitters.spool import SpoolWriter, read_file

    workdir = Path(args.dir)
    if args.reset and workdir.exists():
        shutil.rmtree(workdir)
    events = _pipeline(workdir)
    with SpoolWriter(workdir / "spool") as spool:
        for event in events:
            spool.write_event(event)
        path = spool.rotate()
    assert path is not None
    print(f"wrote {len(events)} events to {path}")
    for event in (decode(message.value) for message in read_file(path)):
        if args.json:
            print(json.dumps(event, ensure_ascii=False))
            continue
        outputs = ", ".join(Path(o["name"]).name for o in event.get("outputs", []))
        print(
            f"  {event['eventTime']}  {event['eventType']:<8} {event['job']['name']:<9}"
            f" run {event['run']['runId'][:8]}" + (f"  -> {outputs}" if outputs else "")
        )
    return 0
