"""The ``Dockerfile``, checked without a Docker engine (none on the project's machines): its
stages, pinned bases, non-root user, COPY sources and the command it runs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from pedigree.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def image_user() -> int:
    """The numeric uid the image runs as (its last USER)."""
    (user,) = [args for word, args in final_stage() if word == "USER"][-1:]
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: use a numeric uid (runAsNonRoot can only check those)"
    return int(uid)


def test_two_stages_on_a_pinned_base() -> None:
    bases = [args for word, args in instructions() if word == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        image = base.split()[0]
        assert " AS " in f" {base} ".upper(), f"FROM {base}: name the stage"
        pinned = "@sha256:" in image or re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image)
        assert pinned, f"FROM {base}: pin an exact version (or a digest), not a moving tag"
    assert any("--from=build" in args for word, args in final_stage() if word == "COPY")


def test_the_image_runs_as_a_non_root_numeric_user() -> None:
    assert image_user() != 0
    creates = " ".join(args for word, args in final_stage() if word == "RUN")
    assert f"--uid {image_user()}" in creates


def test_every_copied_source_exists_and_every_package_is_copied() -> None:
    copied: set[str] = set()
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            *sources, _destination = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                copied.add(source)
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    packages = set(wheel["targets"]["wheel"]["packages"])
    force_included = set(wheel["targets"]["wheel"]["force-include"])
    assert packages | force_included | {"pyproject.toml", "README.md"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not copied & set(ignored)


def test_the_extras_it_installs_exist() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    for extra in re.findall(r'"\.\[([\w,]+)\]"', runs):
        assert set(extra.split(",")) <= set(extras)
    assert '".[server]"' in runs
    assert "opentelemetry-exporter-otlp" in runs  # OTEL_*_EXPORTER=otlp in the manifests


def test_entrypoint_and_default_command_are_a_real_pedigree_command() -> None:
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["pedigree"]
    command = json.loads(stage["CMD"])
    parsed = build_parser().parse_args(command)
    assert parsed.command == command[0] == "serve"
    exposed = {int(p) for p in stage["EXPOSE"].split()}
    assert {parsed.port, 8081} <= exposed  # serve's port, consume --health-port in deploy/k8s
