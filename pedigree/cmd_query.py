"""``pedigree lineage | provenance | rerun``: ask a running Pedigree API, print for people or
``--json`` for scripts.

They talk HTTP to ``--api`` (``$PEDIGREE_API_URL``, default http://127.0.0.1:8080: what
``pedigree serve`` and ``pedigree demo`` listen on) with the bearer token ``--token``
(``$PEDIGREE_API_TOKEN``).  They never open the warehouse themselves: a ``chdb://`` directory
belongs to the server process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["add_parsers"]

DEFAULT_API = "http://127.0.0.1:8080"


class ApiError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=os.environ.get("PEDIGREE_API_URL", DEFAULT_API),
        metavar="URL",
        help="the Pedigree API (default: $PEDIGREE_API_URL or %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("PEDIGREE_API_TOKEN"),
        help="bearer token (default: $PEDIGREE_API_TOKEN)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")


def _graph_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, help="edges from the start node (server default 5)")
    parser.add_argument("--max-nodes", type=int, help="nodes at most (server default 500)")


def add_parsers(commands: Any) -> None:
    lineage = commands.add_parser(
        "lineage",
        help="the lineage graph around a job, dataset (version) or run",
        description=__doc__,
        epilog="examples:\n  pedigree lineage job:demo:train --depth 2\n"
        "  pedigree lineage 'dataset:s3://bucket:images#v3' --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lineage.add_argument("node_id", help="job:NS:NAME, dataset:NS:NAME[#VERSION] or run:ID")
    _graph_limits(lineage)
    _common(lineage)
    lineage.set_defaults(handler=run_lineage)

    provenance = commands.add_parser(
        "provenance",
        help="where did a model version come from? (its upstream runs and dataset versions)",
        description=__doc__,
        epilog="examples:\n  pedigree provenance demo-classifier 2\n"
        "  pedigree provenance detector 12 --depth 20 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    provenance.add_argument("model", help="model name")
    provenance.add_argument("version", help="model version")
    _graph_limits(provenance)
    _common(provenance)
    provenance.set_defaults(handler=run_provenance)

    rerun = commands.add_parser(
        "rerun",
        help="how to run a past run again (JSON spec, or a Kubernetes Job with --format k8s)",
        description=__doc__,
        epilog="examples:\n  pedigree rerun 0190c6b0-0000-7000-8000-000000000001\n"
        "  pedigree rerun RUN_ID --format k8s | kubectl apply -f -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rerun.add_argument("run_id", help="the run's id")
    rerun.add_argument(
        "--format", choices=("text", "json", "k8s"), default="text",
        help="text (default), the JSON spec, or a Kubernetes Job manifest (JSON)",
    )  # fmt: skip
    _common(rerun)
    rerun.set_defaults(handler=run_rerun)


def _get(args: argparse.Namespace, path: str, params: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = args.api.rstrip("/") + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url)  # noqa: S310 - the operator's API URL
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read().decode("utf-8", "replace")
        try:
            detail = json.loads(body).get("detail", body)
        except ValueError:
            detail = body
        raise ApiError(f"{err.code}: {detail}", 2 if err.code in (400, 422) else 1) from None
    except urllib.error.URLError as err:
        raise ApiError(
            f"cannot reach the API at {args.api} ({err.reason}); is `pedigree serve` running?"
        ) from None


def _run(args: argparse.Namespace, body: Any) -> int:
    try:
        answer = body()
    except ApiError as err:
        print(f"pedigree {args.command}: {err}", file=sys.stderr)
        return err.code
    if isinstance(answer, list):
        print("\n".join(answer))
    else:
        print(json.dumps(answer, indent=2))
    return 0


def run_lineage(args: argparse.Namespace) -> int:
    from pedigree.render import render_graph

    def body() -> Any:
        params = {"nodeId": args.node_id, "depth": args.depth, "maxNodes": args.max_nodes}
        graph = _get(args, "/api/v1/lineage", params)
        return graph if args.json else render_graph(graph)

    return _run(args, body)


def run_provenance(args: argparse.Namespace) -> int:
    from pedigree.render import render_tree

    def body() -> Any:
        answer = _get(args, "/api/v1/provenance", {"model": args.model, "version": args.version,
                      "depth": args.depth, "maxNodes": args.max_nodes})  # fmt: skip
        return answer if args.json else render_tree(answer)

    return _run(args, body)


def run_rerun(args: argparse.Namespace) -> int:
    from pedigree.render import render_rerun

    def body() -> Any:
        fmt = "k8s" if args.format == "k8s" else "json"
        spec = _get(args, f"/api/v1/runs/{urllib.parse.quote(args.run_id, safe='')}/rerun",
                    {"format": fmt})  # fmt: skip
        return spec if args.json or args.format != "text" else render_rerun(spec)

    return _run(args, body)
