"""Dataset references with exact versions: naming, fingerprints and their cache, ML facets."""

from __future__ import annotations

import doctest
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import emitters.datasets
from emitters import codec
from emitters.datasets import (
    CACHE_ENV,
    VERSION_SCHEMA_URL,
    Fingerprinter,
    InvalidDataset,
    dataset,
    fingerprint,
    labels,
    local_dataset,
    model,
    parse_dataset_arg,
    uri_dataset,
    version_facet,
)
from emitters.errors import PedigreeError
from emitters.facets import PRODUCER, schema_url
from emitters.validation import validate_event
from tests.avro_records import plain
from tests.json_equality import strictly_equal

MIB = 1 << 20
AN_HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with an empty process-wide cache and no on-disk cache."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    fingerprint.cache_clear()
    yield
    fingerprint.cache_clear()


def write(path: Path, data: bytes, *, mtime: float = AN_HOUR_AGO) -> Path:
    """Write a file, dated in the past (a file written earlier, not a moment ago)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_of(ref: dict[str, Any]) -> str | None:
    found: str | None = ref.get("facets", {}).get("version", {}).get("datasetVersion")
    return found


def test_the_module_docstring_examples_hold() -> None:
    result = doctest.testmod(emitters.datasets)
    assert result.attempted >= 4
    assert result.failed == 0


# -- fingerprints of files -------------------------------------------------------------------


def test_a_file_fingerprint_is_the_sha256_of_its_content(tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 123)  # spans several 1 MiB chunks
    assert fingerprint(write(tmp_path / "f.bin", data)) == f"sha256:{sha(data)}"
    assert fingerprint(write(tmp_path / "empty", b"")) == f"sha256:{sha(b'')}"
    assert emitters.datasets.CHUNK_BYTES == MIB


def test_a_file_is_read_in_1_mib_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "f.bin", b"x" * (5 * MIB // 2))
    reads: list[int] = []
    real_open = open

    def spying_open(*args: Any, **kwargs: Any) -> Any:
        file = real_open(*args, **kwargs)

        class Spy:
            def __enter__(self) -> Spy:
                return self

            def __exit__(self, *exc: object) -> None:
                file.close()

            def fileno(self) -> int:
                return int(file.fileno())

            def readinto(self, buffer: bytearray) -> int:
                reads.append(len(buffer))
                return int(file.readinto(buffer))

        return Spy()

    monkeypatch.setattr("builtins.open", spying_open)
    Fingerprinter()(path)
    assert reads == [MIB] * 4  # three chunks (the last one short), then end of file


def test_a_50_mb_file_is_hashed_once_then_served_from_the_cache(tmp_path: Path) -> None:
    path = write(tmp_path / "train.bin", os.urandom(50 * MIB))
    first = fingerprint(path)
    info = fingerprint.cache_info()
    assert (info.misses, info.hits, info.bytes_hashed) == (1, 0, 50 * MIB)
    for _ in range(3):
        assert fingerprint(path) == first
    assert local_dataset(path)["facets"]["version"]["datasetVersion"] == first
    info = fingerprint.cache_info()
    assert (info.misses, info.hits, info.bytes_hashed, info.entries) == (1, 4, 50 * MIB, 1)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + b"!"), id="size"),
        pytest.param(
            lambda p: write(p, b"other content", mtime=AN_HOUR_AGO + 60), id="content-and-mtime"
        ),
    ],
)
def test_a_modified_file_is_hashed_again(tmp_path: Path, change: Callable[[Path], Any]) -> None:
    path = write(tmp_path / "f", b"some content.")
    before = fingerprint(path)
    change(path)
    after = fingerprint(path)
    assert after != before
    assert after == f"sha256:{sha(path.read_bytes())}"
    assert fingerprint.cache_info().misses == 2


def test_a_rewrite_that_restores_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"AAAA")
    before = fingerprint(path)
    ctime = path.stat().st_ctime_ns
    while path.stat().st_ctime_ns == ctime:  # a later timestamp tick than the first write
        time.sleep(0.005)
        write(path, b"BBBB")  # same size, same (restored) mtime: only ctime tells
    assert fingerprint(path) == f"sha256:{sha(b'BBBB')}" != before


def test_a_file_changed_a_moment_ago_is_hashed_but_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "f", b"just written")
    mtime_ns = path.stat().st_mtime_ns
    monkeypatch.setattr(time, "time_ns", lambda: mtime_ns + 5_000_000)  # 5 ms later
    fingerprint(path)
    fingerprint(path)
    assert fingerprint.cache_info().misses == 2  # another write in the same tick is possible
    monkeypatch.setattr(time, "time_ns", lambda: mtime_ns + 50_000_000)  # 50 ms later
    fingerprint(path)
    fingerprint(path)
    assert (fingerprint.cache_info().misses, fingerprint.cache_info().hits) == (3, 1)


def test_whole_second_timestamps_need_a_longer_quiet_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "f", b"on a coarse filesystem", mtime=int(AN_HOUR_AGO))
    mtime_ns = path.stat().st_mtime_ns
    monkeypatch.setattr(time, "time_ns", lambda: mtime_ns + 1_000_000_000)
    fingerprint(path)
    fingerprint(path)
    assert fingerprint.cache_info().hits == 0
    monkeypatch.setattr(time, "time_ns", lambda: mtime_ns + 3_000_000_000)
    fingerprint(path)
    fingerprint(path)
    assert fingerprint.cache_info().hits == 1


def test_the_memory_cache_is_bounded_and_evicts_the_least_recently_used(tmp_path: Path) -> None:
    fp = Fingerprinter(max_entries=2)
    a, b, c = (write(tmp_path / name, name.encode()) for name in "abc")
    fp(a)
    fp(b)
    fp(a)  # a is now the most recently used
    fp(c)  # evicts b
    assert fp.cache_info().entries == 2
    fp(a)
    assert fp.cache_info().misses == 3
    fp(b)
    assert fp.cache_info().misses == 4


def test_a_missing_path_raises_file_not_found_and_a_fifo_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fingerprint(tmp_path / "nope")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidDataset, match="neither a regular file nor a directory"):
        fingerprint(tmp_path / "pipe")


# -- fingerprints of directories -------------------------------------------------------------


def manifest_digest(entries: list[tuple[str, bytes]]) -> str:
    """The directory fingerprint as documented, computed independently."""
    lines = sorted(
        b"%s\0%d\0%s\n" % (name.encode(), len(data), sha(data).encode()) for name, data in entries
    )
    return f"sha256:{sha(b''.join(lines))}"


FILES = [("b.csv", b"1,2\n"), ("a/x.bin", b"\x00" * 10), ("a/y/z.txt", b"z"), ("a b", b"")]


def test_a_directory_fingerprint_is_the_hash_of_its_sorted_manifest(tmp_path: Path) -> None:
    for name, data in FILES:
        write(tmp_path / "d" / name, data)
    (tmp_path / "d" / "empty-subdir").mkdir()  # directories themselves do not count
    assert fingerprint(tmp_path / "d") == manifest_digest(FILES)
    (tmp_path / "empty").mkdir()
    assert fingerprint(tmp_path / "empty") == f"sha256:{sha(b'')}"


def test_a_directory_fingerprint_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    for name, data in FILES:
        write(tmp_path / "one" / name, data)
    for name, data in reversed(FILES):
        write(tmp_path / "two" / name, data)
    assert fingerprint(tmp_path / "one") == fingerprint(tmp_path / "two")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (d / "b.csv").rename(d / "c.csv"),
        lambda d: write(d / "a" / "y" / "z.txt", b"Z", mtime=AN_HOUR_AGO + 5),
        lambda d: write(d / "new", b""),
        lambda d: (d / "a b").unlink(),
    ],
    ids=["rename", "edit", "add-empty-file", "remove"],
)
def test_any_change_beneath_a_directory_changes_its_fingerprint(
    tmp_path: Path, change: Callable[[Path], Any]
) -> None:
    for name, data in FILES:
        write(tmp_path / name, data)
    before = fingerprint(tmp_path)
    change(tmp_path)
    assert fingerprint(tmp_path) != before


def test_the_files_of_a_directory_are_hashed_once(tmp_path: Path) -> None:
    for name, data in FILES:
        write(tmp_path / name, data)
    fingerprint(tmp_path)
    fingerprint(tmp_path)
    write(tmp_path / "b.csv", b"changed", mtime=AN_HOUR_AGO + 9)
    fingerprint(tmp_path)
    info = fingerprint.cache_info()
    assert (info.misses, info.hits) == (len(FILES) + 1, 2 * len(FILES) - 1)


def test_a_symlink_to_a_file_counts_as_the_file(tmp_path: Path) -> None:
    write(tmp_path / "outside" / "real.csv", b"data")
    write(tmp_path / "with-copy" / "f.csv", b"data")
    (tmp_path / "with-link").mkdir()
    (tmp_path / "with-link" / "f.csv").symlink_to(tmp_path / "outside" / "real.csv")
    assert fingerprint(tmp_path / "with-link") == fingerprint(tmp_path / "with-copy")
    # and the path given is followed
    (tmp_path / "top-link").symlink_to(tmp_path / "outside" / "real.csv")
    assert fingerprint(tmp_path / "top-link") == f"sha256:{sha(b'data')}"


def test_other_symlinks_are_recorded_by_their_target_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write(root / "f", b"x")
    write(tmp_path / "big" / "huge.bin", b"y" * 1000)
    (root / "to-dir").symlink_to(tmp_path / "big")
    (root / "loop").symlink_to(root)  # would never end if followed
    (root / "dangling").symlink_to(tmp_path / "missing")
    lines = sorted(
        [
            b"f\x001\x00%s\n" % sha(b"x").encode(),
            b"to-dir\x00symlink\x00%s\n" % sha(os.fsencode(tmp_path / "big")).encode(),
            b"loop\x00symlink\x00%s\n" % sha(os.fsencode(root)).encode(),
            b"dangling\x00symlink\x00%s\n" % sha(os.fsencode(tmp_path / "missing")).encode(),
        ]
    )
    assert fingerprint(root) == f"sha256:{sha(b''.join(lines))}"
    assert fingerprint.cache_info().bytes_hashed == 1  # the linked directory was not read
    before = fingerprint(root)
    (root / "to-dir").unlink()
    (root / "to-dir").symlink_to(tmp_path)
    assert fingerprint(root) != before  # re-pointing a link is a change


def test_special_files_beneath_a_directory_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "d" / "f", b"x")
    before = fingerprint(tmp_path / "d")
    os.mkfifo(tmp_path / "d" / "pipe")  # reading it would block
    assert fingerprint(tmp_path / "d") == before


# -- the on-disk cache -----------------------------------------------------------------------


def test_the_disk_cache_serves_a_new_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "fingerprints.jsonl"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    path = write(tmp_path / "model.pt", os.urandom(MIB))
    digest = fingerprint(path)
    assert fingerprint.cache_info().misses == 1
    assert len(cache.read_text().splitlines()) == 1
    fingerprint.cache_clear()  # as a new process starts: nothing in memory
    assert fingerprint(path) == digest
    info = fingerprint.cache_info()
    assert (info.misses, info.disk_hits, info.hits) == (0, 1, 0)
    assert fingerprint(path) == digest
    assert fingerprint.cache_info().hits == 1  # now in memory too


def test_the_disk_cache_serves_a_real_second_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "fingerprints.jsonl"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    path = write(tmp_path / "written-by-step-1.bin", os.urandom(MIB))
    digest = fingerprint(path)
    script = (
        "import json, sys\n"
        "from emitters.datasets import fingerprint\n"
        "digest = fingerprint(sys.argv[1])\n"
        "print(json.dumps([digest, fingerprint.cache_info()._asdict()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, CACHE_ENV: str(cache)},
    )
    other_digest, info = json.loads(done.stdout)
    assert other_digest == digest
    assert (info["misses"], info["disk_hits"]) == (0, 1)


def test_a_corrupted_disk_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "f", b"content")
    info = path.stat()
    key = {
        "dev": info.st_dev,
        "ino": info.st_ino,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
    }
    cache = tmp_path / "cache.jsonl"
    cache.write_bytes(
        b"\x00\xff\xfe garbage\n"
        b'{"dev": 1, "ino": 2\n'  # cut short
        b"[1, 2, 3]\n"
        + json.dumps({**key, "sha256": "not-hex"}).encode()  # the right key, a bad digest
        + b"\n"
        + json.dumps({**key, "size": True, "sha256": "0" * 64}).encode()  # bool, not int
        + b"\n"
        + json.dumps({**key, "sha256": "A" * 64}).encode()  # upper-case: not ours
        + b"\n"
        + b"{" * 10_000
        + b"\n"
    )
    monkeypatch.setenv(CACHE_ENV, str(cache))
    assert fingerprint(path) == f"sha256:{sha(b'content')}"
    assert fingerprint.cache_info().misses == 1
    fingerprint.cache_clear()
    assert fingerprint(path) == f"sha256:{sha(b'content')}"  # the line it appended is good
    assert fingerprint.cache_info().disk_hits == 1


def test_an_unusable_disk_cache_only_costs_a_rehash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))  # a directory: neither readable nor writable
    path = write(tmp_path / "f", b"x")
    assert fingerprint(path) == f"sha256:{sha(b'x')}"
    fingerprint.cache_clear()
    assert fingerprint(path) == f"sha256:{sha(b'x')}"


def test_the_disk_cache_is_bounded_and_keeps_the_newest_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache.jsonl"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    fp = Fingerprinter(disk_max_entries=3)
    files = [write(tmp_path / f"f{i}", b"%d" % i) for i in range(10)]
    for path in files:
        fp(path)
        assert len(cache.read_text().splitlines()) <= 6
    fresh = Fingerprinter(disk_max_entries=3)
    fresh(files[-1])
    assert fresh.cache_info().disk_hits == 1
    fresh(files[0])
    assert fresh.cache_info().misses == 1


# -- naming ----------------------------------------------------------------------------------


def test_a_local_file_is_named_by_its_absolute_path_in_the_file_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "train.csv", b"a,b\n")
    monkeypatch.chdir(tmp_path / "data")
    ref = local_dataset("../data/./train.csv")
    assert ref == {
        "namespace": "file",
        "name": f"{tmp_path.as_posix()}/data/train.csv",
        "facets": {"version": version_facet(f"sha256:{sha(b'a,b' + bytes([10]))}")},
    }


def test_a_symlinked_path_keeps_its_own_name(tmp_path: Path) -> None:
    write(tmp_path / "v3" / "train.csv", b"x")
    (tmp_path / "latest").symlink_to(tmp_path / "v3")
    ref = local_dataset(tmp_path / "latest" / "train.csv")
    assert ref["name"] == f"{tmp_path.as_posix()}/latest/train.csv"
    assert version_of(ref) == f"sha256:{sha(b'x')}"


def test_local_dataset_options(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"x")
    ref = local_dataset(path, namespace="file://nfs-1", version="v9", facets={"x": {"y": 1}})
    assert ref["namespace"] == "file://nfs-1"
    assert ref["facets"] == {"x": {"y": 1}, "version": version_facet("v9")}
    assert fingerprint.cache_info().misses == 0  # an explicit version is not computed
    assert local_dataset(tmp_path / "not-yet-written.pt") == {
        "namespace": "file",
        "name": f"{tmp_path.as_posix()}/not-yet-written.pt",
    }
    assert version_of(local_dataset(tmp_path)) == fingerprint(tmp_path)
    with pytest.raises(InvalidDataset):
        local_dataset("")


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("s3://bucket/path/to/key.parquet", "s3://bucket", "path/to/key.parquet"),
        ("s3a://bucket/warehouse/t/", "s3://bucket", "warehouse/t"),
        ("s3n://bucket/k", "s3://bucket", "k"),
        ("s3://bucket", "s3://bucket", "/"),
        ("s3://bucket/a%20b%40c", "s3://bucket", "a b@c"),
        ("gs://bucket/o/p.json", "gs://bucket", "o/p.json"),
        ("gcs://bucket/o", "gs://bucket", "o"),
        (
            "abfss://container@account.dfs.core.windows.net/dir/file.csv",
            "abfss://container@account.dfs.core.windows.net",
            "dir/file.csv",
        ),
        (
            "abfs://container@Account.dfs.core.windows.net/warehouse/",
            "abfss://container@account.dfs.core.windows.net",
            "warehouse",
        ),
        (
            "wasbs://c@svc.blob.core.windows.net/k",
            "wasbs://c@svc.blob.core.windows.net",
            "k",
        ),
        ("hdfs://namenode:8020/warehouse/t/", "hdfs://namenode:8020", "/warehouse/t"),
        ("hdfs://NameNode/x", "hdfs://namenode", "/x"),
        ("file:///abs/path/data.csv", "file", "/abs/path/data.csv"),
        ("file://localhost/abs/dir/", "file", "/abs/dir"),
        ("file://fileserver/share/x", "file://fileserver", "/share/x"),
        ("postgres://db.internal:5433/shop.public.orders", "postgres://db.internal:5433", None),
        (
            "postgresql://etl:s3cret@DB.internal/shop.public.orders?sslmode=require",
            "postgres://db.internal:5432",
            "shop.public.orders",
        ),
        ("postgres://[::1]/d.s.t", "postgres://[::1]:5432", "d.s.t"),
        ("mysql://mysql-1/shop.orders", "mysql://mysql-1:3306", "shop.orders"),
        ("trino://trino:8443/hive.sales.orders", "trino://trino:8443", "hive.sales.orders"),
        (
            "snowflake://myorg-account1/DB.SCHEMA.T",
            "snowflake://myorg-account1",
            "DB.SCHEMA.T",
        ),
        ("bigquery:my-project.ds.events", "bigquery", "my-project.ds.events"),
        ("kafka://broker-1:9093/clicks", "kafka://broker-1:9093", "clicks"),
        ("kafka://b1:9093,b2:9093/clicks", "kafka://b1:9093", "clicks"),
        ("kafka://broker/clicks", "kafka://broker:9092", "clicks"),
    ],
)
def test_uris_follow_the_openlineage_naming_conventions(
    uri: str, namespace: str, name: str | None
) -> None:
    ref = uri_dataset(uri)
    assert ref["namespace"] == namespace
    assert ref["name"] == (name or uri.rsplit("/", 1)[-1])
    assert "facets" not in ref  # nothing says which version: none is invented
    assert "s3cret" not in json.dumps(ref)


def _documented_names() -> list[tuple[str, str, str]]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9]+:[^`]+)` \| `([^`]+)` \| `([^`]+)` \|$", doc, re.M)
    assert len(rows) >= 12
    return rows


@pytest.mark.parametrize(("uri", "namespace", "name"), _documented_names())
def test_the_naming_table_in_the_docs_is_what_the_code_does(
    uri: str, namespace: str, name: str
) -> None:
    ref = uri_dataset(uri)
    assert (ref["namespace"], ref["name"]) == (namespace, name)


def test_uri_versions_come_from_the_caller_or_the_stores_own_syntax(tmp_path: Path) -> None:
    assert version_of(uri_dataset("s3://b/k", version="v42")) == "v42"
    assert version_of(uri_dataset("s3://b/k?versionId=3HL4kqt")) == "3HL4kqt"
    assert version_of(uri_dataset("gs://b/o#1360887697105000")) == "1360887697105000"
    with pytest.raises(InvalidDataset, match="the URI says version"):
        uri_dataset("s3://b/k?versionId=a", version="b")
    path = write(tmp_path / "f.csv", b"x")
    assert version_of(uri_dataset(path.as_uri())) == f"sha256:{sha(b'x')}"
    assert version_of(uri_dataset(path.as_uri(), version="v1")) == "v1"
    assert version_of(uri_dataset("file://fileserver/share/x")) is None  # not ours to read
    assert version_of(uri_dataset((tmp_path / "missing").as_uri())) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("", "empty"),
        ("relative/path.csv", "no scheme"),
        ("s3:bucket/key", "expected s3://"),
        ("s3://", "expected s3://BUCKET/KEY"),
        ("s3:///key", "expected s3://BUCKET/KEY"),
        ("s3://user@bucket/key", "expected s3://BUCKET/KEY"),
        ("s3://b/k?acl=1", "unexpected query"),
        ("s3://b/k#frag", "unexpected '#'"),
        ("abfss://account.dfs.core.windows.net/p", "CONTAINER@ACCOUNT"),
        ("postgres://h/shop.orders", "database.schema.table"),
        ("postgres://h/a..b", "database.schema.table"),
        ("postgres:///shop.public.orders", "names no host"),
        ("mysql://h:port/d.t", "bad port"),
        ("kafka://h/", "kafka://HOST:PORT/TOPIC"),
        ("kafka://h/a/b", "kafka://HOST:PORT/TOPIC"),
        ("bigquery:project.dataset", "project.dataset.table"),
        ("file:relative.csv", "expected file://"),
        ("file://host", "absolute path"),
        ("ftp://h/x", "unsupported scheme"),
        ("http://example.com/data.csv", "dataset(namespace, name)"),
    ],
)
def test_an_unparseable_uri_raises_a_value_error_naming_the_problem(uri: str, problem: str) -> None:
    with pytest.raises(InvalidDataset) as caught:
        uri_dataset(uri)
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PedigreeError)


def test_a_password_never_appears_in_an_error() -> None:
    with pytest.raises(InvalidDataset) as caught:
        uri_dataset("postgres://etl:hunter2@db/shop.orders")
    assert "hunter2" not in str(caught.value)
    assert "etl:***@db" in str(caught.value)


def test_dataset_builds_any_reference() -> None:
    assert dataset("feast://prod", "driver_stats") == {
        "namespace": "feast://prod",
        "name": "driver_stats",
    }
    ref = dataset("n", "t", version="v2", facets={"version": version_facet("v1"), "k": {}})
    assert ref["facets"] == {"version": version_facet("v2"), "k": {}}
    assert version_facet("v2") == {
        "_producer": PRODUCER,
        "_schemaURL": VERSION_SCHEMA_URL,
        "datasetVersion": "v2",
    }
    for bad in (("", "t"), ("n", "")):
        with pytest.raises(InvalidDataset):
            dataset(*bad)
    with pytest.raises(InvalidDataset):
        dataset("n", "t", version="")


# -- the command-line form -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "namespace", "name", "version"),
    [
        ("s3://b/k@v42", "s3://b", "k", "v42"),
        ("s3://b/dir@v1/file", "s3://b", "dir@v1/file", None),  # not in the last segment
        ("s3://b/a%40b", "s3://b", "a@b", None),
        ("s3://b/a%40b@v1", "s3://b", "a@b", "v1"),
        ("s3://b/a@b@v1", "s3://b", "a@b", "v1"),
        (
            "abfss://c@acct.dfs.core.windows.net/data",
            "abfss://c@acct.dfs.core.windows.net",
            "data",
            None,
        ),
        (
            "abfss://c@acct.dfs.core.windows.net/data/part@2024-01",
            "abfss://c@acct.dfs.core.windows.net",
            "data/part",
            "2024-01",
        ),
        ("abfss://c@acct.dfs.core.windows.net", "abfss://c@acct.dfs.core.windows.net", "/", None),
        ("postgres://etl@db/shop.public.orders", "postgres://db:5432", "shop.public.orders", None),
        (
            "postgres://db/shop.public.orders@snap-7",
            "postgres://db:5432",
            "shop.public.orders",
            "snap-7",
        ),
        ("kafka://broker:9092/clicks@offset-1200", "kafka://broker:9092", "clicks", "offset-1200"),
        ("bigquery:p.d.t@1700000000", "bigquery", "p.d.t", "1700000000"),
    ],
)
def test_a_trailing_at_version_in_the_last_path_segment_is_the_version(
    text: str, namespace: str, name: str, version: str | None
) -> None:
    ref = parse_dataset_arg(text)
    assert (ref["namespace"], ref["name"], version_of(ref)) == (namespace, name, version)


def test_a_local_path_argument_gets_its_fingerprint_or_the_version_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data.csv", b"1\n")
    write(tmp_path / "model@best.pt", b"weights")  # an "@" in a real file name
    ref = parse_dataset_arg("./data.csv")
    assert ref["name"] == f"{tmp_path.as_posix()}/data.csv"
    assert version_of(ref) == f"sha256:{sha(b'1' + bytes([10]))}"
    pinned = parse_dataset_arg("./data.csv@v3")
    assert (pinned["name"], version_of(pinned)) == (ref["name"], "v3")
    whole = parse_dataset_arg("model@best.pt")
    assert (whole["name"], version_of(whole)) == (
        f"{tmp_path.as_posix()}/model@best.pt",
        f"sha256:{sha(b'weights')}",
    )
    assert version_of(parse_dataset_arg("out/not-yet.pt")) is None
    assert version_of(parse_dataset_arg(str(tmp_path / "data.csv"))) == version_of(ref)


@pytest.mark.parametrize("text", ["", "s3://b/k@", "@v1", "./@v1", "s3://b/@v1"])
def test_a_malformed_argument_is_refused(text: str) -> None:
    with pytest.raises(InvalidDataset):
        parse_dataset_arg(text)


# -- labels and models -----------------------------------------------------------------------


def test_labels_adds_the_annotations_facet_to_a_copy() -> None:
    ref = uri_dataset("s3://labels/cats.json", version="v3")
    labelled = labels(ref, label_set="cats-vs-dogs", label_version="2024-06", task="classify")
    assert "pedigree_annotations" not in ref["facets"]
    assert labelled["facets"]["version"] == ref["facets"]["version"]
    assert labelled["facets"]["pedigree_annotations"] == {
        "_producer": PRODUCER,
        "_schemaURL": schema_url("pedigree_annotations"),
        "labelSet": "cats-vs-dogs",
        "labelVersion": "2024-06",
        "task": "classify",
    }
    bare = labels(dataset("n", "t"), label_set="s")["facets"]["pedigree_annotations"]
    assert set(bare) == {"_producer", "_schemaURL", "labelSet"}


def test_model_adds_the_model_facet_with_float_metrics(caplog: pytest.LogCaptureFixture) -> None:
    ref = uri_dataset("s3://models/resnet/7/model.pt", version="7")
    metrics = {"accuracy": 0.93, "epochs": 12, "loss": float("nan"), "auc": float("inf")}
    with caplog.at_level(logging.WARNING, logger="pedigree.datasets"):
        built = model(ref, name="resnet", version="7", framework="torch", metrics=metrics)
    body = built["facets"]["pedigree_model"]
    assert body["metrics"] == {"accuracy": 0.93, "epochs": 12.0}
    assert type(body["metrics"]["epochs"]) is float
    assert {"_producer", "_schemaURL", "name", "version", "framework", "metrics"} == set(body)
    assert "pedigree_model" not in ref["facets"]
    assert "'loss'" in caplog.text
    assert "'auc'" in caplog.text
    assert "metrics" not in model(ref, name="m", version="1")["facets"]["pedigree_model"]


def test_model_leaves_out_metrics_that_are_not_numbers(caplog: pytest.LogCaptureFixture) -> None:
    bad: dict[str, Any] = {"ok": 1, "text": "0.9", "none": None, "list": [1]}
    body = model(dataset("n", "t"), name="m", version="1", metrics=bad)["facets"]
    assert body["pedigree_model"]["metrics"] == {"ok": 1.0}


# -- on the wire -----------------------------------------------------------------------------


def run_event(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-28T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.UUID(int=5))},
        "job": {"namespace": "tests", "name": "train"},
        "inputs": inputs,
        "outputs": outputs,
    }


def all_kinds_of_reference(tmp_path: Path) -> dict[str, dict[str, Any]]:
    file = write(tmp_path / "train.csv", b"a,b\n1,2\n")
    for name, data in FILES:
        write(tmp_path / "dir" / name, data)
    return {
        "local-file": local_dataset(file),
        "local-dir": local_dataset(tmp_path / "dir"),
        "file-uri": uri_dataset(file.as_uri()),
        "s3": uri_dataset("s3://b/k?versionId=x1"),
        "gs": uri_dataset("gs://b/o#12"),
        "abfss": parse_dataset_arg("abfss://c@a.dfs.core.windows.net/p@v2"),
        "postgres": parse_dataset_arg("postgres://h/d.s.t@snap"),
        "kafka": uri_dataset("kafka://h:9092/t", version="offset-9"),
        "table": dataset("bigquery", "p.d.t", version="1"),
        "unversioned": dataset("feast", "view"),
        "labels": labels(uri_dataset("s3://l/x", version="3"), label_set="s", task="t"),
        "labels-bare": labels(dataset("n", "t"), label_set="s"),
        "model": model(
            local_dataset(file),
            name="m",
            version="1",
            framework="torch",
            stage="candidate",
            metrics={"acc": 1, "f1": 0.5, "nan": float("nan")},
        ),
        "model-bare": model(dataset("n", "t"), name="m", version="2"),
        "model-empty-metrics": model(dataset("n", "t"), name="m", version="2", metrics={}),
        "both": labels(model(dataset("n", "t", version="9"), name="m", version="9"), label_set="s"),
    }


def test_every_reference_validates_round_trips_and_travels_typed(tmp_path: Path) -> None:
    for kind, ref in all_kinds_of_reference(tmp_path).items():
        event = run_event([ref], [ref])
        assert validate_event(event) == "run", kind
        assert strictly_equal(codec.decode(codec.encode(event)), event), kind
        record = plain(codec.to_record(event))
        for side in ("inputs", "outputs"):
            facets = record[side][0]["facets"]
            if "facets" not in ref:
                assert facets is None, kind
                continue
            assert facets["_extra"] == {}, kind
            for key, body in ref["facets"].items():
                typed = facets[key]
                assert typed is not None, (kind, key)
                for field, value in body.items():
                    assert typed[field] == value, (kind, key, field)
