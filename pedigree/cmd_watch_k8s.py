"""``pedigree watch-k8s``: lineage for Kubernetes Jobs and Pods without changing their code.

Watches the pods that carry a label (``pedigree.dev/lineage=true`` by default) and reports
each pod as one run: START when its main container starts, COMPLETE or FAIL (with the exit
code, OOMKilled named) when it ends, ABORT when it is deleted while running.  The run records
the image digest, the command line, the requested CPU, memory and GPUs, the node and service
account, and the owners, inputs and outputs named by ``pedigree.dev/*`` labels and annotations.
Events go where ``PEDIGREE_*`` variables say (Kafka, the spool, HTTP).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emitters.client import Emitter
    from emitters.k8s_watch import PodWatcher

__all__ = ["add_parser", "load_api_client", "run"]

_EPILOG = """\
examples:
  pedigree watch-k8s --namespace ml
  pedigree watch-k8s --all-namespaces --selector team=vision,pedigree.dev/lineage=true
  PEDIGREE_KAFKA_BOOTSTRAP=kafka:9092 pedigree watch-k8s --in-cluster --cluster prod-eu
  pedigree watch-k8s --kubeconfig ~/.kube/config --namespace ml --once

Label a Job's pod template so its pods are reported:

  metadata:
    labels: {pedigree.dev/lineage: "true", pedigree.dev/team: vision}
    annotations:
      pedigree.dev/inputs: s3://datasets/imagenet/train@2026-11-27
      pedigree.dev/outputs: s3://models/resnet50/nightly@v12

It needs list and watch on pods, and get on jobs (see docs/kubernetes-watcher.md).  Without
--kubeconfig or --in-cluster, KUBECONFIG or ~/.kube/config is used, else the in-cluster
service account.  SIGTERM or Ctrl-C stops it cleanly (exit 0).
"""

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class _NoConfig(Exception):
    """No usable Kubernetes configuration; the message says what was tried."""


def add_parser(commands: Any) -> None:
    from emitters._k8s_events import DEFAULT_CLUSTER, DEFAULT_SELECTOR

    parser = commands.add_parser(
        "watch-k8s",
        help="report Kubernetes pods (and their Jobs) as lineage runs",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-n", "--namespace", help="watch this namespace (default: the context's, else default)"
    )
    where.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument(
        "-l",
        "--selector",
        default=DEFAULT_SELECTOR,
        help=f"label selector of the pods to report (default: {DEFAULT_SELECTOR})",
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file to use")
    auth.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--cluster",
        default=DEFAULT_CLUSTER,
        help=f"cluster name in job namespaces k8s://CLUSTER/NS (default: {DEFAULT_CLUSTER})",
    )
    parser.add_argument(
        "--once", action="store_true", help="report the pods' current state once, then exit"
    )
    parser.set_defaults(handler=run)


def load_api_client(
    kubeconfig: str | None = None, *, in_cluster: bool = False, context: str | None = None
) -> tuple[Any, str]:
    """A ``kubernetes.client.ApiClient`` and the namespace its configuration defaults to."""
    import yaml  # type: ignore[import-untyped]
    from kubernetes import client as k8s
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    config: Any = kube_config  # its loaders carry no type hints

    default_file = Path(os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
    if not in_cluster and kubeconfig is None and not default_file.exists():
        in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        if not in_cluster:
            raise _NoConfig(
                f"no Kubernetes configuration: {default_file} does not exist and this is not a"
                " pod; pass --kubeconfig PATH or set KUBECONFIG"
            )
    try:
        if in_cluster:
            configuration = k8s.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            try:
                namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
            except OSError:
                namespace = ""
            return k8s.ApiClient(configuration), namespace or "default"
        api_client = config.new_client_from_config(
            config_file=kubeconfig, context=context, persist_config=False
        )
        contexts, active = config.list_kube_config_contexts(kubeconfig)
        chosen = next((c for c in contexts if c.get("name") == context), active) or {}
        return api_client, str((chosen.get("context") or {}).get("namespace") or "default")
    except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError) as err:
        source = "in-cluster configuration" if in_cluster else (kubeconfig or str(default_file))
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _NoConfig(f"cannot use the {source}: {text}") from err


def run(args: argparse.Namespace, *, emitter: Emitter | None = None, api_client: Any = None) -> int:
    """Run the command; ``emitter`` and ``api_client`` replace the configured ones (tests)."""
    try:
        from emitters.client import get_emitter
        from emitters.config import ConfigError
        from emitters.k8s_watch import PodWatcher, WatchError
    except ImportError as err:
        print(f"pedigree watch-k8s: {err} (pip install 'pedigree[emit]')", file=sys.stderr)
        return 2
    _configure_logging()
    namespace: str | None = args.namespace
    if api_client is None:
        try:
            api_client, default_namespace = load_api_client(
                args.kubeconfig, in_cluster=args.in_cluster, context=args.context
            )
        except _NoConfig as err:
            print(f"pedigree watch-k8s: {err}", file=sys.stderr)
            return 2
        namespace = namespace or default_namespace
    if args.all_namespaces:
        namespace = None
    try:
        emitter = emitter or get_emitter()
    except ConfigError as err:
        print(f"pedigree watch-k8s: {err}", file=sys.stderr)
        api_client.close()
        return 2
    watcher = PodWatcher(
        api_client, emitter, namespace=namespace, selector=args.selector, cluster=args.cluster
    )
    where = f"namespace {namespace}" if namespace else "all namespaces"
    try:
        if args.once:
            count = watcher.once()
            print(f"pedigree watch-k8s: {count} events for pods in {where} ({args.selector})")
            return 0
        logging.getLogger("pedigree.k8s").info(
            "pedigree: watching pods in %s (%s)", where, args.selector
        )
        return _run_until_signalled(watcher)
    except WatchError as err:
        print(f"pedigree watch-k8s: {where}: {err}", file=sys.stderr)
        return 1
    finally:
        emitter.close()
        api_client.close()


def _run_until_signalled(watcher: PodWatcher) -> int:
    """Watch in a thread until SIGTERM / SIGINT (exit 0) or a fatal error (raised here)."""
    from emitters.k8s_watch import WatchError

    stop = threading.Event()
    failure: list[WatchError] = []

    def work() -> None:
        try:
            watcher.run()
        except WatchError as err:
            failure.append(err)
        finally:
            stop.set()

    previous = _on_signals(lambda signum, frame: stop.set())
    thread = threading.Thread(target=work, name="pedigree-k8s-watch", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
        crashed = not thread.is_alive() and not failure  # a bug: its traceback is printed
    finally:
        watcher.stop()
        thread.join(timeout=10)
        _restore(previous)
    if failure:
        raise failure[0]
    return 1 if crashed else 0


def _on_signals(handler: Any) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _configure_logging() -> None:
    """INFO lines from the watcher on stderr, unless the process configured logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("pedigree.k8s").setLevel(logging.INFO)
        logging.getLogger("urllib3").setLevel(logging.ERROR)  # the watcher logs its retries
