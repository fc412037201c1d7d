"""Where a short embed run's time goes before its first model batch: Ray's start, the worker
processes Ray spawns and their imports, the model actors' construction, the first batches.

    python -m benchmarks.startup --input DIR [--set KEY=VALUE]

Every Ray worker process notes (through a process setup hook) when it started, when it had imported
the pipeline's modules, and, in the model actors, when the models started and finished loading and
when the first batch was analysed. Prints one JSON object: seconds from the command's start to
each event (the earliest of each kind, and per kind how many processes), and the bench figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

EVENTS_ENV = "FACEPIPE_STARTUP_EVENTS"


def note(event: str) -> None:
    """Append ``event`` with the wall time and this process's id to the events file."""
    with open(os.environ[EVENTS_ENV], "a") as events:
        events.write(f"{time.time():.3f} {os.getpid()} {event}\n")


def trace_worker() -> None:
    """Process setup hook: note this worker's start and imports, and wrap the model stage."""
    note("worker started")
    import pipeline.ingest.analyze as analyze

    note("worker imported the pipeline")
    construct, call = analyze.AnalyzeFaces.__init__, analyze.AnalyzeFaces.__call__

    def traced_construct(self, *args, **kwargs):
        note("models loading")
        construct(self, *args, **kwargs)
        note("models loaded")

    def traced_call(self, batch):
        result = call(self, batch)
        note("model batch done")
        return result

    analyze.AnalyzeFaces.__init__, analyze.AnalyzeFaces.__call__ = traced_construct, traced_call


def main() -> None:
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facepipe-startup-") as scratch:
        os.environ[EVENTS_ENV] = str(Path(scratch) / "events.txt")
        import ray

        from pipeline.config import load_config
        from pipeline.ingest.bench import run_bench

        imported = time.time()
        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"worker_process_setup_hook": "benchmarks.startup.trace_worker"},
        )
        ready = time.time()
        figures = run_bench(args.input, load_config(None, args.set))
        ray.shutdown()
        events: dict[str, list[float]] = {}
        for line in Path(os.environ[EVENTS_ENV]).read_text().splitlines():
            stamp, _, event = line.split(" ", 2)
            events.setdefault(event, []).append(float(stamp) - started)
    figures.pop("config")
    print(
        json.dumps(
            {
                "driver_imports_s": round(imported - started, 2),
                "ray_init_s": round(ready - imported, 2),
                "events": {
                    event: {"first_s": round(min(times), 2), "last_s": round(max(times), 2), "count": len(times)}
                    for event, times in events.items()
                },
                "bench": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
