# The image deploy/k8s runs: the `pedigree` command with the server extra (consumer, API,
# Kubernetes watcher) and the OTLP exporter, as a non-root user.
#
#   docker build -t registry.example.com/ml-platform/pedigree:0.1.0 .
#
# Not built on the project's own machines or in its CI: they have no Docker engine (only the
# client). tests/unit/test_dockerfile.py checks what can be checked without one: two stages,
# bases pinned to an exact version, a numeric non-root USER (the manifests' runAsUser), every
# COPY source present, and an ENTRYPOINT/CMD that the real `pedigree` parser accepts.
# Pin the base by digest as well when you build where the registry is reachable:
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm   -> FROM python:...@sha256:...
#
# Training images do not need this image: see docs/kubernetes.md, "The emitter in a training
# image" (the base install is fastavro + confluent-kafka only).

# -- build: a virtual environment with pedigree[server] in /opt/pedigree -----------------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/pedigree
WORKDIR /src
COPY pyproject.toml README.md ./
COPY avro ./avro
COPY pedigree ./pedigree
COPY emitters ./emitters
COPY consumers ./consumers
COPY api ./api
RUN /opt/pedigree/bin/pip install ".[server]" "opentelemetry-exporter-otlp>=1.24"

# -- runtime: the environment alone, as uid 10001 ---------------------------------------------
FROM python:3.11.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 pedigree \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/pedigree --create-home pedigree
COPY --from=build /opt/pedigree /opt/pedigree
ENV PATH=/opt/pedigree/bin:$PATH \
    HOME=/home/pedigree \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/pedigree
USER 10001:10001
# 8080: pedigree serve; 8081: pedigree consume --health-port
EXPOSE 8080 8081
ENTRYPOINT ["pedigree"]
CMD ["serve", "--host", "0.0.0.0", "--no-consume"]
