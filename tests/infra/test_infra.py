"""infra/check.py passes on the real infra/ and catches each kind of mistake in a broken copy of it; the schema
generator makes strict schemas."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load(REPO / "infra" / "check.py")
generate = _load(REPO / "infra" / "schemas" / "generate.py")

GPU_TOLERATIONS = """            tolerations:
              - key: nvidia.com/gpu
                operator: Exists
                effect: NoSchedule
"""

GPU_LIMITS = """                  limits:
                    cpu: "6"
                    memory: 24Gi
                    nvidia.com/gpu: 1
"""
GPU_REQUESTS = """                    nvidia.com/gpu: 1
                  limits:
                    cpu: "6"
                    memory: 24Gi
"""

# (file under infra/, text in it, what replaces it, the check that must catch it, what it must say)
BROKEN = {
    "kuberay schema: misspelled field": (
        "k8s/base/rayjob.yaml",
        "maxReplicas: 8",
        "maxReplica: 8",
        check.kuberay_problems,
        "k8s/base: RayJob facepipe-nightly: $.spec.rayClusterSpec.workerGroupSpecs[0]: "
        "Additional properties are not allowed ('maxReplica' was unexpected)",
    ),
    "kuberay schema: string for an integer": (
        "k8s/base/rayjob.yaml",
        "activeDeadlineSeconds: 36000",
        'activeDeadlineSeconds: "36000"',
        check.kuberay_problems,
        "k8s/raycronjob: RayCronJob facepipe-nightly: $.spec.jobTemplate.activeDeadlineSeconds: "
        "'36000' is not of type 'integer'",
    ),
    "kubernetes-validate: misspelled field": (
        "k8s/cronjob/cronjob.yaml",
        "startingDeadlineSeconds: 3600",
        "startingDeadlineSecond: 3600",
        check.kubernetes_problems,
        "k8s/overlays/prod: CronJob facepipe-nightly: $.spec: "
        "Additional properties are not allowed ('startingDeadlineSecond' was unexpected)",
    ),
    "kubernetes-validate: string for an integer": (
        "k8s/cronjob/cronjob.yaml",
        "backoffLimit: 2",
        'backoffLimit: "2"',
        check.kubernetes_problems,
        "k8s/cronjob: CronJob facepipe-nightly: $.spec.jobTemplate.spec.backoffLimit: "
        "'2' is not of type 'integer', 'null'",
    ),
    "launcher schema: misspelled field": (
        "launcher/aws.yaml",
        "max_workers: 12",
        "max_worker: 12",
        check.launcher_problems,
        "launcher/aws.yaml: $: Additional properties are not allowed ('max_worker' was unexpected)",
    ),
    "launcher schema: string for an integer": (
        "launcher/aws.yaml",
        "max_workers: 8",
        'max_workers: "8"',
        check.launcher_problems,
        "launcher/aws.yaml: $.available_node_types.cpu.max_workers: '8' is not of type 'integer'",
    ),
    "controller: a RayJob name of 48 characters": (
        "k8s/base/rayjob.yaml",
        "  name: facepipe-nightly\n",
        "  name: facepipe-nightly-with-a-name-one-too-long-for-it\n",
        check.controller_rule_problems,
        "k8s/base: RayJob facepipe-nightly-with-a-name-one-too-long-for-it: "
        "the name has 48 characters, at most 47 for a RayJob",
    ),
    "controller: a CronJob whose RayJobs' names would be too long": (
        "k8s/cronjob/cronjob.yaml",
        "  name: facepipe-nightly  #",
        "  name: facepipe-nightly-for-all-the-family-photos  #",
        check.controller_rule_problems,
        "k8s/cronjob: CronJob facepipe-nightly-for-all-the-family-photos: "
        "the name has 42 characters, at most 34 for a CronJob",
    ),
    "controller: rayVersion is not the image's Ray": (
        "k8s/base/rayjob.yaml",
        'rayVersion: "2.60.0"',
        'rayVersion: "2.59.0"',
        check.controller_rule_problems,
        "k8s/overlays/dev: RayJob facepipe-nightly: rayVersion is '2.59.0', the facepipe image's Ray is '2.60.0'",
    ),
    "controller: an image of another Ray": (
        "k8s/base/rayjob.yaml",
        "image: facepipe-gpu",
        "image: rayproject/ray:2.59.0-py311-gpu",
        check.controller_rule_problems,
        "k8s/standing-cluster: RayCluster facepipe: worker group gpu: "
        "image rayproject/ray:2.59.0-py311-gpu does not hold Ray 2.60.0 (rayVersion)",
    ),
    "controller: the image's Ray is not the project's": (
        "docker/Dockerfile",
        "ARG RAY_VERSION=2.60.0",
        "ARG RAY_VERSION=2.59.0",
        check.controller_rule_problems,
        "docker/Dockerfile's ARG RAY_VERSION must be pyproject.toml's ray[data]== pin",
    ),
    "controller: a GPU group without tolerations": (
        "k8s/base/rayjob.yaml",
        GPU_TOLERATIONS,
        "",
        check.controller_rule_problems,
        "k8s/overlays/prod: RayJob facepipe-nightly: worker group gpu: "
        "a GPU group needs a toleration for nvidia.com/gpu",
    ),
    "controller: GPUs requested but not limited": (
        "k8s/base/rayjob.yaml",
        GPU_LIMITS,
        GPU_REQUESTS,
        check.controller_rule_problems,
        "k8s/base: RayJob facepipe-nightly: worker group gpu: "
        "nvidia.com/gpu must be in the container's resources.limits",
    ),
    "controller: a CronJob without Forbid": (
        "k8s/cronjob/cronjob.yaml",
        "concurrencyPolicy: Forbid",
        "concurrencyPolicy: Allow",
        check.controller_rule_problems,
        "k8s/cronjob: CronJob facepipe-nightly: concurrencyPolicy must be Forbid",
    ),
    "hadolint: the image runs as root": (
        "docker/Dockerfile",
        "USER 1000",
        "USER root",
        check.dockerfile_problems,
        "DL3002 warning: Last USER should not be root",
    ),
    "hadolint: pip keeps its cache in the image": (
        "docker/Dockerfile",
        "pip install --no-cache-dir",
        "pip install",
        check.dockerfile_problems,
        "DL3042 warning: Avoid use of cache directory with pip.",
    ),
    "yamllint: a key given twice": (
        "k8s/base/rayjob.yaml",
        "  backoffLimit: 1",
        "  backoffLimit: 1\n  backoffLimit: 2",
        check.yaml_problems,
        'duplication of key "backoffLimit" in mapping (key-duplicates)',
    ),
    "kustomize: the GPU group is no longer the one the overlay patches": (
        "k8s/base/rayjob.yaml",
        "- groupName: gpu",
        "- groupName: gpus",
        check.kustomize_problems,
        "k8s/overlays/dev: error: testing value /spec/rayClusterSpec/workerGroupSpecs/1/groupName failed",
    ),
}


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "infra"


def test_every_check_passes_on_the_real_files():
    result = subprocess.run([sys.executable, str(REPO / "infra" / "check.py")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["ok"] * len(check.CHECKS)


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_each_check_catches_its_mistake(infra_copy: Path, case: str):
    filename, text, replacement, run_check, says = BROKEN[case]
    path = infra_copy / filename
    assert path.read_text().count(text) == 1, f"{case}: {text!r} is no longer once in {filename}"
    path.write_text(path.read_text().replace(text, replacement))
    problems = list(run_check(infra_copy))
    assert any(says in problem for problem in problems), problems


def test_the_script_exits_1_and_names_the_failure(infra_copy: Path):
    cronjob = infra_copy / "k8s" / "cronjob" / "cronjob.yaml"
    cronjob.write_text(cronjob.read_text().replace("concurrencyPolicy: Forbid", "concurrencyPolicy: Allow"))
    result = subprocess.run(
        [sys.executable, str(REPO / "infra" / "check.py"), "--infra", str(infra_copy)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "FAILED: KubeRay controller rules" in result.stdout
    assert "k8s/overlays/prod: CronJob facepipe-nightly: concurrencyPolicy must be Forbid" in result.stdout


def test_generated_schemas_reject_what_the_crd_does_not_name():
    crd = {
        "spec": {
            "names": {"kind": "RayJob"},
            "versions": [
                {
                    "name": "v1",
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-validations": [{"rule": "true"}],
                                    "properties": {
                                        "backoffLimit": {"type": "integer", "nullable": True},
                                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                    },
                                },
                                "status": {"type": "object"},
                            },
                        }
                    },
                }
            ],
        }
    }
    validator = jsonschema.Draft202012Validator(generate.kind_schema(crd, "RayJob", "a test CRD"))
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "a"}, "spec": {}}

    def errors(**spec) -> list[str]:
        return [error.message for error in validator.iter_errors({**job, "spec": spec})]

    assert errors(backoffLimit=None, labels={"any": "label"}) == []
    assert errors(backoffLimit="1") == ["'1' is not of type 'integer', 'null'"]
    assert errors(backofflimit=1) == ["Additional properties are not allowed ('backofflimit' was unexpected)"]
    assert [e.message for e in validator.iter_errors({**job, "status": {}})] == [
        "Additional properties are not allowed ('status' was unexpected)"
    ]
    assert [e.message for e in validator.iter_errors({**job, "kind": "RayCluster"})] == ["'RayJob' was expected"]


KUBECTL_STAND_IN = """#!{python}
# kubectl for launch-rayjob.sh: RayJobs are files in $RAYJOBS, the states it reads are lines of $RAYJOBS/states.
import os, subprocess, sys
from pathlib import Path

rayjobs, args = Path(os.environ["RAYJOBS"]), sys.argv[1:]
with (rayjobs / "calls").open("a") as calls:
    calls.write(" ".join(args) + "\\n")
if args[:2] == ["patch", "--local"]:
    sys.exit(subprocess.run([{kubectl!r}, *args]).returncode)
if args[:2] == ["create", "--filename"]:
    (rayjobs / "created.yaml").write_text(sys.stdin.read())
elif "--ignore-not-found" in args:
    print(f"rayjob.ray.io/{{args[2]}}" if (rayjobs / args[2]).exists() else "")
elif args[-1] == "yaml":
    print((rayjobs / args[2]).read_text())
elif "jobDeploymentStatus" in args[-1]:
    states = (rayjobs / "states").read_text().splitlines()
    (rayjobs / "states").write_text("\\n".join(states[1:]))
    print(states[0], end="")
"""


def _launch(tmp_path: Path, states: list[str], existing: bool) -> tuple[subprocess.CompletedProcess, Path]:
    """launch-rayjob.sh of the cronjob kustomization run against a stand-in kubectl, for the Job
    facepipe-nightly-29000000 (uid 1234), whose RayJob goes through ``states``."""
    rayjobs = tmp_path / "rayjobs"
    rayjobs.mkdir()
    (rayjobs / "states").write_text("\n".join(states))
    template = next(obj for obj in check.rendered(REPO / "infra", "k8s/cronjob") if obj["kind"] == "RayJob")
    served = {**template, "metadata": {**template["metadata"], "uid": "t-1", "resourceVersion": "7"}}
    (rayjobs / "facepipe-nightly").write_text(
        yaml.safe_dump({**served, "status": {"jobDeploymentStatus": "Suspended"}})
    )
    if existing:
        (rayjobs / "facepipe-nightly-29000000-ray").write_text("")
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.parent.mkdir()
    kubectl.write_text(KUBECTL_STAND_IN.format(python=sys.executable, kubectl=check.tool("kubectl")))
    kubectl.chmod(0o755)
    environment = {
        "PATH": f"{kubectl.parent}:/usr/bin:/bin",
        "RAYJOBS": str(rayjobs),
        "TEMPLATE": "facepipe-nightly",
        "JOB_NAME": "facepipe-nightly-29000000",
        "JOB_UID": "1234",
        "POLL_SECONDS": "0",
    }
    script = REPO / "infra" / "k8s" / "cronjob" / "launch-rayjob.sh"
    return subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True), rayjobs


def test_the_launcher_copies_the_template_once_and_succeeds_with_the_rayjob(tmp_path: Path):
    result, rayjobs = _launch(tmp_path, ["Initializing ", "Running RUNNING", "Complete SUCCEEDED"], existing=False)
    assert result.returncode == 0, result.stderr
    created = yaml.safe_load((rayjobs / "created.yaml").read_text())
    assert created["metadata"]["name"] == "facepipe-nightly-29000000-ray"
    assert created["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "facepipe-nightly-29000000", "uid": "1234"}
    ]
    assert created["spec"]["suspend"] is False
    assert "status" not in created and "uid" not in created["metadata"] and "resourceVersion" not in created["metadata"]
    schema = REPO / "infra" / "schemas" / f"kuberay-{check.KUBERAY_RELEASE}" / "rayjob.json"
    assert list(jsonschema.Draft202012Validator(json.loads(schema.read_text())).iter_errors(created)) == []


def test_a_retried_launcher_waits_for_the_same_rayjob_and_fails_with_it(tmp_path: Path):
    result, rayjobs = _launch(tmp_path, ["Running RUNNING", "Failed FAILED"], existing=True)
    assert result.returncode == 1
    assert "RayJob facepipe-nightly-29000000-ray ended Failed FAILED" in result.stderr
    assert not (rayjobs / "created.yaml").exists()
    assert not any(call.startswith("create") for call in (rayjobs / "calls").read_text().splitlines())
