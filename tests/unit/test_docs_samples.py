"""Every code sample of README.md and docs/*.md runs as written (``tests/docs_tools.py`` says how
blocks are found, marked and run).

Here: the samples that start nothing — ``python`` and ``sh`` blocks without a marker, and
``output-of`` excerpts — run in order, per document, in a sandbox; the markers are checked; the
SQL copies equal their cookbook queries; JSON blocks parse; and the skipped blocks are the few
listed below, each with its reason.  The blocks that start a server or need Kafka run in
``tests/integration/test_docs_samples_integration.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docs_tools import (
    DOCUMENTS,
    Sample,
    check_output_of,
    cookbook_queries,
    excerpt_missing,
    make_sandbox,
    run_sample,
    samples,
)

SKIPPED = {
    ("README.md", "make demo"),
    ("README.md", "export PEDIGREE_KAFKA_BOOTSTRAP=kafka:9092"),
    ("docs/kubernetes-watcher.md", "pedigree watch-k8s --namespace ml"),
    ("docs/operations.md", "pedigree consume --bootstrap kafka:9092 --clickhouse http://"),
    ("docs/security.md", "export PEDIGREE_KAFKA_BOOTSTRAP=broker-1.example.com:9093"),
    ("docs/kubernetes.md", "kubectl create namespace pedigree"),
}  # fmt: skip
"""(document, start of the first line) of every skipped block: the samples that cannot run here
(a cluster, ``make test`` itself).  Keep it short; a new skip is added here on purpose."""

MAX_SKIPPED = 6


def all_samples() -> list[Sample]:
    return [sample for document in DOCUMENTS for sample in samples(document)]


def test_the_documents_are_readme_and_docs() -> None:
    assert DOCUMENTS[0] == "README.md"
    assert {"docs/security.md", "docs/operations.md", "docs/api-reference.md"} <= set(DOCUMENTS)


def test_every_skipped_block_says_why_and_is_listed() -> None:
    skipped = [s for s in all_samples() if s.mode == "skip"]
    assert all(s.detail.startswith("(") and len(s.detail) > 10 for s in skipped)
    found = {
        next(
            ((d, p) for d, p in SKIPPED if d == s.document and s.first_line.startswith(p)), s.where
        )
        for s in skipped
    }
    assert found == SKIPPED, [f"{s.where}: {s.first_line} {s.detail}" for s in skipped]
    assert len(skipped) <= MAX_SKIPPED


def test_most_samples_run() -> None:
    runnable = [s for s in all_samples() if s.language in ("python", "sh")]
    run = [s for s in runnable if s.mode != "skip"]
    assert len(run) >= 3 * (len(runnable) - len(run)), "more than a quarter of samples skipped"


def test_sql_copies_are_the_cookbook_queries_that_its_test_runs() -> None:
    queries = cookbook_queries()
    copies = [s for s in all_samples() if s.mode == "same-as"]
    assert copies, "the README shows one cookbook query"
    for sample in copies:
        query_id = sample.detail.split("#", 1)[1]
        assert query_id in queries, f"{sample.where}: no query {query_id!r} in docs/sql.md"
        assert sample.code == queries[query_id], f"{sample.where} differs from docs/sql.md"


def test_sql_blocks_outside_the_cookbook_are_copies_or_excerpts() -> None:
    for sample in all_samples():
        if sample.language == "sql" and sample.document != "docs/sql.md":
            assert sample.mode in ("same-as", "output-of", "skip"), sample.where


def test_json_blocks_parse_and_token_files_load() -> None:
    from api.auth import TokenTable

    for sample in all_samples():
        if sample.language == "json":
            document = json.loads(sample.code)
            if isinstance(document, dict) and "tokens" in document:
                assert TokenTable.from_entries(document["tokens"]).principals, sample.where


def test_an_excerpt_must_follow_the_output_in_order() -> None:
    output = "CREATE TABLE t\n(\n    a   String,\n    b String,\n)\n"
    assert excerpt_missing("CREATE TABLE t\n(\n a String,\n…\n)\n", output) == []
    assert excerpt_missing("b String,\na String,\n", output) == ["a String,"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_samples_that_start_nothing_run(document: str, tmp_path: Path) -> None:
    env = make_sandbox(tmp_path)
    for sample in samples(document):
        if sample.mode == "unit":
            run_sample(sample, tmp_path, env)
        elif sample.mode == "output-of":
            check_output_of(sample, tmp_path, env)
