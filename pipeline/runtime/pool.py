"""How many model actors a cluster runs and what each reserves, so that read tasks always keep CPU."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigError

READ_TASK_CPUS = 0.5  # read + decode is I/O and libjpeg: half a CPU each leaves room for the models


@dataclass(frozen=True)
class ModelPool:
    """How many model actors run and what each reserves."""

    actors: int
    cpus: float
    gpus: float

    @property
    def threads(self) -> int:
        """Threads each actor's models may use: its CPUs, at least one."""
        return max(1, round(self.cpus))

    def actors_for(self, rows: int, batch_size: int) -> int:
        """Actors worth starting for ``rows`` rows in model batches of ``batch_size``: the whole pool,
        but no more actors than batches (each actor loads its models once)."""
        return max(1, min(self.actors, -(-rows // batch_size)))


def size_model_pool(
    cluster_cpus: float,
    cluster_gpus: float,
    use_gpu: bool,
    *,
    model_actors: int | None = None,
    actor_cpus: float | None = None,
) -> ModelPool:
    """Model actors for a cluster of ``cluster_cpus`` CPUs and ``cluster_gpus`` GPUs: one per GPU
    (``use_gpu``), else one single-threaded actor per CPU, always leaving READ_TASK_CPUS of the cluster
    for the read/decode tasks (fractional reservations). With more actors than GPUs (``model_actors``)
    the actors share the GPUs: their Python, NMS and host transfers then overlap each other's GPU work.

    ``model_actors`` / ``actor_cpus`` (ray.model_actors / ray.actor_cpus), when given, win. Raises
    ConfigError when the pool would leave no CPU for the read tasks (the job would hang).
    """
    usable = cluster_cpus - READ_TASK_CPUS
    if use_gpu:
        actors = model_actors or max(1, int(cluster_gpus))
    else:
        actors = model_actors or max(1, int(cluster_cpus))
    gpus = min(1.0, cluster_gpus / actors) if use_gpu else 0.0  # several actors may share a GPU
    pool = ModelPool(actors, actor_cpus or min(1.0, usable / actors), gpus)
    if pool.cpus <= 0 or pool.actors * pool.cpus > usable + 1e-9:
        raise ConfigError(
            f"{pool.actors} model actors x {pool.cpus} CPUs leave less than {READ_TASK_CPUS} of the cluster's "
            f"{cluster_cpus} CPUs for reading: lower ray.model_actors or ray.actor_cpus"
        )
    return pool
