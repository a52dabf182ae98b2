"""The machine and the process: CPUs, memory, usage samples, with and without psutil.

There is no GPU here.  The GPU code is split so that everything but the driver call is a pure
function, tested on output recorded from real machines (``nvidia-smi``) and on values NVML
returns; no GPU is faked.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from emitters.capture import machine
from emitters.capture.kubernetes_pod import PodInfo, Resources
from emitters.capture.machine import (
    SMI_INVENTORY,
    SMI_USAGE,
    GpuReading,
    UsageSampler,
    capture_resources,
    cpu_percent,
    gpu_samples,
    gpu_spec,
    observed_resources,
    parse_nvidia_smi,
    parse_proc_stat,
    process_gpu_memory,
    rfc3339_now,
    sample_usage,
)

RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MIB = 2**20


@pytest.fixture
def without_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import psutil`` fails, as in a job that does not have it."""
    monkeypatch.setitem(sys.modules, "psutil", None)


def _burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


# --- the machine ------------------------------------------------------------------------------


def test_observed_resources_with_psutil() -> None:
    import psutil

    observed = observed_resources()
    assert observed["cpuCount"] == float(len(os.sched_getaffinity(0)))
    assert type(observed["cpuCount"]) is float
    assert observed["memoryBytes"] == psutil.virtual_memory().total
    assert type(observed["memoryBytes"]) is int


@pytest.mark.usefixtures("without_psutil")
def test_observed_memory_without_psutil_comes_from_proc_meminfo() -> None:
    with pytest.raises(ImportError):
        import psutil  # noqa: F401
    line = next(
        x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:")
    )
    assert observed_resources()["memoryBytes"] == int(line.split()[1]) * 1024


def test_observed_memory_is_the_same_without_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    with_psutil = observed_resources()
    monkeypatch.setitem(sys.modules, "psutil", None)
    without = observed_resources()
    assert without["memoryBytes"] == with_psutil["memoryBytes"]
    assert type(without["memoryBytes"]) is int
    assert without["cpuCount"] == with_psutil["cpuCount"]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has GPUs")
def test_no_gpu_fields_on_a_machine_without_gpus() -> None:
    observed = observed_resources()
    assert not {"gpuCount", "gpuModel", "gpuMemoryBytes"} & observed.keys()


def test_capture_resources_has_requested_from_the_pod_and_observed() -> None:
    pod = PodInfo(namespace="ml", pod="p", requests=Resources(cpu=0.5, memory_bytes=MIB))
    resources = capture_resources(pod)
    assert resources is not None
    assert resources["requested"] == {"cpuCount": 0.5, "memoryBytes": MIB}
    assert resources["observed"] == observed_resources()
    assert "requested" not in (capture_resources(None) or {})


# --- usage samples ----------------------------------------------------------------------------


def _check_cpu_sample(sample: dict[str, object]) -> None:
    assert sample["device"] == "cpu"
    assert RFC3339_Z.fullmatch(str(sample["time"]))
    assert type(sample["cpuPercent"]) is float
    assert type(sample["rssBytes"]) is int
    assert set(sample) <= {"time", "host", "device", "cpuPercent", "rssBytes"}


def test_cpu_percent_measures_the_time_between_samples() -> None:
    sampler = UsageSampler(host="trainer-0")
    _burn_cpu(0.3)
    busy = sampler.sample()[0]
    _check_cpu_sample(busy)
    assert busy["host"] == "trainer-0"
    assert busy["cpuPercent"] > 30.0
    time.sleep(0.3)
    idle = sampler.sample()[0]
    assert idle["cpuPercent"] < busy["cpuPercent"]


def test_samples_with_psutil_report_its_rss() -> None:
    import psutil

    sample = UsageSampler().sample()[0]
    rss = psutil.Process().memory_info().rss
    assert abs(sample["rssBytes"] - rss) < 64 * MIB


@pytest.mark.usefixtures("without_psutil")
def test_samples_without_psutil_read_proc() -> None:
    sampler = UsageSampler()
    _burn_cpu(0.3)
    sample = sampler.sample()[0]
    _check_cpu_sample(sample)
    assert sample["cpuPercent"] > 30.0
    statm = Path(f"/proc/{os.getpid()}/statm").read_text().split()
    assert abs(sample["rssBytes"] - int(statm[1]) * os.sysconf("SC_PAGE_SIZE")) < 64 * MIB


def test_proc_and_psutil_agree_on_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    times = psutil.Process().cpu_times()
    monkeypatch.setitem(sys.modules, "psutil", None)
    from_proc = machine._cpu_seconds(os.getpid())
    assert from_proc is not None
    assert abs(from_proc - (times.user + times.system)) < 0.5


def test_unreadable_proc_without_psutil_gives_bare_samples(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    monkeypatch.setattr(machine, "PROC", tmp_path / "no-proc")
    samples = UsageSampler(host="h").sample()
    assert samples[0].keys() == {"time", "host", "device"}
    assert "memoryBytes" not in observed_resources()


def test_a_process_that_is_gone_gives_bare_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    pid = 2**22 + 12345  # above the kernel's pid_max
    assert set(UsageSampler(pid=pid).sample()[0]) == {"time", "host", "device"}
    monkeypatch.setitem(sys.modules, "psutil", None)
    assert set(UsageSampler(pid=pid).sample()[0]) == {"time", "host", "device"}


def test_a_sampler_can_be_closed_and_used_again() -> None:
    with UsageSampler() as sampler:
        assert sampler.sample()[0]["device"] == "cpu"
    sampler.close()
    assert sampler.sample()[0]["device"] == "cpu"


def test_sample_usage_keeps_state_per_process() -> None:
    sample_usage()
    _burn_cpu(0.2)
    sample = sample_usage()[0]
    assert sample["cpuPercent"] > 20.0


def test_rfc3339_now_is_utc_with_z() -> None:
    assert RFC3339_Z.fullmatch(rfc3339_now())


# --- pure parts -------------------------------------------------------------------------------


def test_parse_proc_stat_with_a_hostile_command_name() -> None:
    # /proc/<pid>/stat of a process named "my (odd) job" (utime 250, stime 50 ticks)
    stat = (
        "4242 (my (odd) job) R 1 4242 4242 0 -1 4194304 1530 0 0 0 250 50 0 0 20 0 9 0 "
        "123456 1061093376 52164 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 1 "
        "0 0 0 0 0\n"
    )
    assert parse_proc_stat(stat, 100) == 3.0


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        ((10.0, 100.0), (11.0, 102.0), 50.0),
        ((10.0, 100.0), (14.0, 101.0), 400.0),  # four cores busy
        ((10.0, 100.0), (9.0, 101.0), 0.0),  # never negative
        ((10.0, 100.0), (10.5, 100.0), None),  # no time passed
    ],
)
def test_cpu_percent(
    before: tuple[float, float], now: tuple[float, float], expected: float | None
) -> None:
    assert cpu_percent(*before, *now) == expected


# Recorded on a p4d.24xlarge (8 x A100 80GB), truncated to 2 GPUs, and on a T4 + A10G box.
SMI_A100 = "NVIDIA A100-SXM4-80GB, 81920\nNVIDIA A100-SXM4-80GB, 81920\n"
SMI_MIXED = "Tesla T4, 15360\nNVIDIA A10G, 23028\n"
SMI_USAGE_A100 = "0, 97, 40536\n1, [N/A], 3\n"


def test_nvidia_smi_inventory() -> None:
    columns = SMI_INVENTORY[1].split("=")[1].split(",")
    readings = parse_nvidia_smi(SMI_A100, columns)
    assert readings == [
        GpuReading(index=0, name="NVIDIA A100-SXM4-80GB", memory_total=81920 * MIB),
        GpuReading(index=1, name="NVIDIA A100-SXM4-80GB", memory_total=81920 * MIB),
    ]
    assert gpu_spec(readings) == {
        "gpuCount": 2,
        "gpuModel": "NVIDIA A100-SXM4-80GB",
        "gpuMemoryBytes": 80 * 2**30,
    }


def test_mixed_gpus_list_both_models_and_the_smaller_memory() -> None:
    readings = parse_nvidia_smi(SMI_MIXED, ["name", "memory.total"])
    assert gpu_spec(readings) == {
        "gpuCount": 2,
        "gpuModel": "Tesla T4, NVIDIA A10G",
        "gpuMemoryBytes": 15360 * MIB,
    }


def test_nvidia_smi_usage_samples() -> None:
    columns = SMI_USAGE[1].split("=")[1].split(",")
    readings = parse_nvidia_smi(SMI_USAGE_A100, columns)
    samples = gpu_samples(readings, "2026-11-28T10:00:15.000Z", "gpu-node-3")
    assert samples == [
        {
            "time": "2026-11-28T10:00:15.000Z",
            "host": "gpu-node-3",
            "device": "gpu0",
            "gpuUtilPercent": 97.0,
            "gpuMemoryBytes": 40536 * MIB,
        },
        {
            "time": "2026-11-28T10:00:15.000Z",
            "host": "gpu-node-3",
            "device": "gpu1",
            "gpuMemoryBytes": 3 * MIB,
        },
    ]


@pytest.mark.parametrize("text", ["", "\n", "[Not Supported], [N/A]\n", "garbage without commas\n"])
def test_nvidia_smi_odd_output(text: str) -> None:
    readings = parse_nvidia_smi(text, ["name", "memory.total"])
    assert all(r.name is None or "[" not in r.name for r in readings)
    assert all(r.memory_total is None for r in readings)


def test_nvml_values_become_samples_with_the_process_memory() -> None:
    # What NVML returned on an A100 for a process using 30 GiB of a device using 31 GiB.
    pid = 4242
    processes = [(pid, 30 * 2**30), (777, 2**30)]
    readings = [
        GpuReading(
            index=0,
            name="NVIDIA A100-SXM4-80GB",
            memory_total=85_899_345_920,
            memory_used=31 * 2**30,
            utilization=88.0,
            process_memory=process_gpu_memory(processes, pid),
        ),
        GpuReading(index=1, name="NVIDIA A100-SXM4-80GB", memory_total=85_899_345_920,
                   memory_used=2**30, utilization=0.0,
                   process_memory=process_gpu_memory([(777, 2**30)], pid)),
    ]  # fmt: skip
    samples = gpu_samples(readings, "t", None)
    assert [(s["device"], s["gpuUtilPercent"], s["gpuMemoryBytes"]) for s in samples] == [
        ("gpu0", 88.0, 30 * 2**30),
        ("gpu1", 0.0, 2**30),  # the process is not on gpu1: the device's used memory
    ]
    assert all("host" not in s for s in samples)
    assert gpu_spec(readings)["gpuMemoryBytes"] == 85_899_345_920


def test_process_gpu_memory() -> None:
    assert process_gpu_memory([(1, 100), (1, 50), (2, 7)], 1) == 150
    assert process_gpu_memory([(1, None)], 1) is None  # NVML without per-process accounting
    assert process_gpu_memory([], 1) is None
    assert gpu_spec([]) == {}
