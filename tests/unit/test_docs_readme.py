"""The README says what the code does: every emitter setting documented, samples that run."""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import ENVIRONMENT as API_LIMITS
from emitters.config import ENV_VARS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_emitter_variable_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(PEDIGREE_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert set(ENV_VARS.values()) <= documented
    others = {
        "PEDIGREE_FINGERPRINT_CACHE": "emitters/datasets.py",
        "PEDIGREE_CLICKHOUSE_URL": "pedigree/cmd_migrate.py",
        "PEDIGREE_CLICKHOUSE_DATABASE": "pedigree/cmd_migrate.py",
        "PEDIGREE_CONSUMER_INSTANCE_ID": "pedigree/cmd_consume.py",
        "PEDIGREE_API_HOST": "pedigree/cmd_serve.py",
        "PEDIGREE_API_PORT": "pedigree/cmd_serve.py",
        "PEDIGREE_API_TOKENS_FILE": "pedigree/cmd_serve.py",
        "PEDIGREE_API_AUTH": "pedigree/cmd_serve.py",
        **dict.fromkeys(API_LIMITS.values(), "api/settings.py"),
    }
    assert documented - set(ENV_VARS.values()) == set(others)
    root = Path(__file__).resolve().parents[2]
    for name, module in others.items():
        assert name in (root / module).read_text(), name


def test_the_record_lineage_sample_runs() -> None:
    import pedigree

    def train() -> None:
        with pedigree.run("train"):
            pass

    sample = re.search(
        r"```python\n(from emitters.testing import record_lineage.*?)```", README, re.S
    )
    assert sample is not None
    exec(sample.group(1), {"train": train})
