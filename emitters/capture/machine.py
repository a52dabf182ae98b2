"""The machine a run executes on: CPUs, memory and GPUs it has, and what the process uses.

* :func:`observed_resources` — a ``ResourceSpec`` of the machine: usable CPUs (the process's
  CPU affinity), total memory (psutil, else ``/proc/meminfo``), GPUs (NVML through ``pynvml``,
  else ``nvidia-smi``, else none; looked up once per process).
* :class:`UsageSampler` — ``UsageSample`` records of the process: one ``cpu`` sample (CPU % since
  the previous sample, 100 = one core; resident memory) and one per GPU (``gpu0``, ``gpu1``, …,
  NVML's device order: utilization, and the process's GPU memory when NVML reports it, else the
  device's used memory).  Works without psutil, from ``/proc/<pid>/stat`` and ``statm``.
* :func:`capture_resources` — the ``pedigree_resources`` facet: requested (from the pod) and
  observed.

GPU devices are all those the driver shows the process (in a container, the ones the device
plugin mapped); ``CUDA_VISIBLE_DEVICES`` is not applied, as CUDA's device order need not be
NVML's — the variable itself is recorded in the environment facet.  Parsing of NVML values and
of ``nvidia-smi`` output is done by pure functions (:func:`parse_nvidia_smi`,
:func:`gpu_spec`, :func:`gpu_samples`, :func:`process_gpu_memory`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emitters.capture import harmless, logger, run_command
from emitters.facets import facet

if TYPE_CHECKING:
    from emitters.capture.kubernetes_pod import PodInfo

__all__ = [
    "GpuReading",
    "UsageSampler",
    "capture_resources",
    "cpu_percent",
    "gpu_samples",
    "gpu_spec",
    "observed_resources",
    "parse_nvidia_smi",
    "parse_proc_stat",
    "process_gpu_memory",
    "rfc3339_now",
    "sample_usage",
]

PROC = Path("/proc")
_MIB = 2**20
SMI_INVENTORY = ("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits")
SMI_USAGE = (
    "nvidia-smi",
    "--query-gpu=index,utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
)


@dataclass(frozen=True)
class GpuReading:
    """What NVML or ``nvidia-smi`` said about one GPU (bytes and percent; ``None``: unknown)."""

    index: int
    name: str | None = None
    memory_total: int | None = None
    memory_used: int | None = None
    utilization: float | None = None
    process_memory: int | None = None
    """GPU memory used by the sampled process (NVML only)."""


# --- pure parts -------------------------------------------------------------------------------


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with milliseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None
    return value if value >= 0 else None


def parse_nvidia_smi(text: str, columns: Sequence[str]) -> list[GpuReading]:
    """GPU readings from ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits`` output.

    ``columns`` names the queried fields: ``name``, ``index``, ``memory.total``,
    ``memory.used`` (MiB), ``utilization.gpu`` (%).  Unknown values (``[N/A]``) are ``None``.
    """
    readings = []
    for position, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        values = dict(zip(columns, (v.strip() for v in line.split(",")), strict=False))
        index = _number(values.get("index", ""))
        total, used = (
            _number(values.get("memory.total", "")),
            _number(values.get("memory.used", "")),
        )
        name = values.get("name")
        readings.append(
            GpuReading(
                index=position if index is None else int(index),
                name=name if name and not name.startswith("[") else None,
                memory_total=None if total is None else int(total) * _MIB,
                memory_used=None if used is None else int(used) * _MIB,
                utilization=_number(values.get("utilization.gpu", "")),
            )
        )
    return readings


def gpu_spec(readings: Sequence[GpuReading]) -> dict[str, Any]:
    """The GPU part of a ``ResourceSpec``: count, model, memory per GPU.

    Mixed models are listed in device order, comma-separated; memory is the smallest GPU's.
    """
    if not readings:
        return {}
    names = list(dict.fromkeys(r.name for r in readings if r.name))
    memories = [r.memory_total for r in readings if r.memory_total is not None]
    spec: dict[str, Any] = {"gpuCount": len(readings)}
    if names:
        spec["gpuModel"] = ", ".join(names)
    if memories:
        spec["gpuMemoryBytes"] = min(memories)
    return spec


def process_gpu_memory(processes: Iterable[tuple[int, int | None]], pid: int) -> int | None:
    """GPU memory of ``pid`` from NVML's ``(pid, usedGpuMemory)`` list; ``None`` if not there.

    In a container NVML reports host PIDs, so the process is usually not found there, and the
    sample falls back to the device's used memory.
    """
    used = [memory for p, memory in processes if p == pid and memory is not None]
    return sum(used) if used else None


def gpu_samples(
    readings: Sequence[GpuReading], time: str, host: str | None
) -> list[dict[str, Any]]:
    """One ``UsageSample`` per GPU (``gpu<index>``), with what is known."""
    samples = []
    for reading in readings:
        memory = reading.process_memory
        if memory is None:
            memory = reading.memory_used
        sample: dict[str, Any] = {
            "time": time,
            "host": host,
            "device": f"gpu{reading.index}",
            "gpuUtilPercent": reading.utilization,
            "gpuMemoryBytes": memory,
        }
        samples.append({k: v for k, v in sample.items() if v is not None})
    return samples


def parse_proc_stat(stat: str, clock_ticks: int) -> float:
    """CPU seconds (user + system) of a process from the text of ``/proc/<pid>/stat``."""
    # The command name (field 2) is in parentheses and may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / clock_ticks


def cpu_percent(
    cpu_before: float, wall_before: float, cpu_now: float, wall_now: float
) -> float | None:
    """CPU % between two readings (100 = one core busy); ``None`` if no time passed."""
    elapsed = wall_now - wall_before
    if elapsed < 1e-3:
        return None
    return round(max(cpu_now - cpu_before, 0.0) / elapsed * 100.0, 2)


# --- the machine ------------------------------------------------------------------------------


def _cpu_count() -> float | None:
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        count = os.cpu_count()
        return None if count is None else float(count)


def _memory_total() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        try:
            return int(psutil.virtual_memory().total)
        except (OSError, psutil.Error) as err:
            logger.debug("psutil: no memory total: %s", err)
    try:
        for line in (PROC / "meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError) as err:
        logger.debug("no memory total from /proc/meminfo: %s", err)
    return None


class _Nvml:
    """NVML, initialized on first use and kept until :meth:`close` (``nvmlInit`` is slow)."""

    def __init__(self) -> None:
        self._module: Any = None
        self._unavailable = False

    def get(self) -> Any:
        """The initialized ``pynvml`` module, or ``None`` (no pynvml, no driver)."""
        if self._module is None and not self._unavailable:
            try:
                import pynvml  # type: ignore[import-untyped]
            except ImportError:
                self._unavailable = True
                return None
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as err:
                logger.debug("NVML unavailable: %s", err)
                self._unavailable = True
                return None
            self._module = pynvml
        return self._module

    def close(self) -> None:
        if self._module is not None:
            with contextlib.suppress(self._module.NVMLError):
                self._module.nvmlShutdown()
            self._module = None


def _nvml_readings(pynvml: Any, pid: int | None = None) -> list[GpuReading] | None:
    """All GPUs as NVML sees them (with usage when ``pid`` is given); ``None`` on an error."""
    try:
        readings = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            reading = GpuReading(
                index=index,
                name=name.decode() if isinstance(name, bytes) else str(name),
                memory_total=int(memory.total),
                memory_used=int(memory.used),
            )
            if pid is not None:
                reading = replace(reading, **_nvml_usage(pynvml, handle, pid))
            readings.append(reading)
    except pynvml.NVMLError as err:
        logger.debug("NVML query failed: %s", err)
        return None
    return readings


def _nvml_usage(pynvml: Any, handle: Any, pid: int) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    try:
        usage["utilization"] = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError as err:
        logger.debug("NVML: no utilization: %s", err)
    try:
        processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
        usage["process_memory"] = process_gpu_memory(
            ((p.pid, p.usedGpuMemory) for p in processes), pid
        )
    except pynvml.NVMLError as err:
        logger.debug("NVML: no process list: %s", err)
    return usage


def _smi_readings(query: Sequence[str]) -> list[GpuReading]:
    if shutil.which(query[0]) is None:
        return []
    output = run_command(query)
    if output is None:
        return []
    columns = query[1].split("=", 1)[1].split(",")
    return parse_nvidia_smi(output, columns)


def _gpu_readings(nvml: _Nvml, pid: int | None = None) -> list[GpuReading]:
    """NVML's readings, else ``nvidia-smi``'s, else none."""
    pynvml = nvml.get()
    readings = _nvml_readings(pynvml, pid) if pynvml is not None else None
    if readings is not None:
        return readings
    return _smi_readings(SMI_INVENTORY if pid is None else SMI_USAGE)


@functools.cache
def _gpu_inventory() -> tuple[GpuReading, ...]:
    """The machine's GPUs, looked up once per process."""
    nvml = _Nvml()
    try:
        return tuple(_gpu_readings(nvml))
    finally:
        nvml.close()


@harmless({})
def observed_resources() -> dict[str, Any]:
    """A ``ResourceSpec`` of this machine, with what could be found out."""
    spec: dict[str, Any] = {"cpuCount": _cpu_count(), "memoryBytes": _memory_total()}
    spec.update(gpu_spec(_gpu_inventory()))
    return {k: v for k, v in spec.items() if v is not None}


@harmless(None)
def capture_resources(pod: PodInfo | None = None) -> dict[str, Any] | None:
    """The ``pedigree_resources`` facet: requested (pod) and observed; ``None`` if empty."""
    requested = pod.requested_resources() if pod is not None else None
    observed = observed_resources() or None
    if requested is None and observed is None:
        return None
    return facet("pedigree_resources", requested=requested, observed=observed)


# --- usage samples ----------------------------------------------------------------------------


class UsageSampler:
    """Samples a process's CPU, memory and GPU use; CPU % is measured between samples.

    The first sample's CPU % covers the time since the sampler was made.  With psutil the
    process is read through psutil, else from ``/proc``.  NVML stays initialized from the first
    sample until :meth:`close`.  Never raises.
    """

    def __init__(self, pid: int | None = None, host: str | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.host = host if host is not None else _hostname()
        self._nvml = _Nvml()
        self._last = self._cpu_reading()

    def _cpu_reading(self) -> tuple[float, float] | None:
        seconds = _cpu_seconds(self.pid)
        return None if seconds is None else (seconds, time.monotonic())

    @harmless([])
    def sample(self) -> list[dict[str, Any]]:
        """``UsageSample`` records: device ``cpu`` first, then ``gpu0``, ``gpu1``, …"""
        now = rfc3339_now()
        cpu: dict[str, Any] = {"time": now, "host": self.host, "device": "cpu"}
        reading = self._cpu_reading()
        if reading is not None and self._last is not None:
            cpu["cpuPercent"] = cpu_percent(*self._last, *reading)
        if reading is not None:
            self._last = reading
        cpu["rssBytes"] = _rss_bytes(self.pid)
        samples = [{k: v for k, v in cpu.items() if v is not None}]
        samples.extend(gpu_samples(_gpu_readings(self._nvml, self.pid), now, self.host))
        return samples

    @harmless(None)
    def close(self) -> None:
        """Release NVML (the sampler can still sample; NVML is then opened again)."""
        self._nvml.close()
        self._nvml = _Nvml()

    def __enter__(self) -> UsageSampler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_samplers: dict[int, UsageSampler] = {}


def sample_usage(pid: int | None = None, host: str | None = None) -> list[dict[str, Any]]:
    """Usage samples of a process (default: this one), CPU % since the previous call for it."""
    key = os.getpid() if pid is None else pid
    sampler = _samplers.get(key)
    if sampler is None or (host is not None and sampler.host != host):
        sampler = _samplers[key] = UsageSampler(key, host)
    return sampler.sample()


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        pass
    else:
        try:
            times = psutil.Process(pid).cpu_times()
            return float(times.user + times.system)
        except (OSError, psutil.Error) as err:
            logger.debug("psutil: no CPU times for %d: %s", pid, err)
            return None
    try:
        stat = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        return parse_proc_stat(stat, os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError) as err:
        logger.debug("no CPU times for %d from /proc: %s", pid, err)
        return None


def _rss_bytes(pid: int) -> int | None:
    try:
        import psutil
    except ImportError:
        pass
    else:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except (OSError, psutil.Error) as err:
            logger.debug("psutil: no memory info for %d: %s", pid, err)
            return None
    try:
        statm = (PROC / str(pid) / "statm").read_text(encoding="ascii")
        return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError) as err:
        logger.debug("no resident memory for %d from /proc: %s", pid, err)
        return None
