"""Samples a node's memory, and GPU utilisation and memory where nvidia-smi answers, while work runs."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path


class ResourceSampler:
    """Samples this node's used memory (and, with nvidia-smi, GPU utilisation and memory) while it runs."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.memory_mb: list[float] = []
        self.gpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _node_memory_mb() -> float:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        kib = lambda key: float(info[key].split()[0])
        return (kib("MemTotal") - kib("MemAvailable")) / 1024

    @staticmethod
    def _gpu() -> tuple[float, float] | None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout
            util, memory = (float(v) for v in out.strip().splitlines()[0].split(","))
            return util, memory
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return None

    def _run(self) -> None:
        with_gpu = self._gpu() is not None
        while not self._stop.is_set():
            self.memory_mb.append(self._node_memory_mb())
            if with_gpu and (sample := self._gpu()):
                self.gpu.append(sample)
            self._stop.wait(self.interval)

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        """Peak node memory (MB above what the OS counts as available) and GPU figures when sampled."""
        figures = {"node_memory_peak_mb": round(max(self.memory_mb, default=0.0), 1)}
        if self.gpu:
            figures["gpu_util_mean_pct"] = round(sum(u for u, _ in self.gpu) / len(self.gpu), 1)
            figures["gpu_memory_peak_mib"] = max(m for _, m in self.gpu)
        return figures
