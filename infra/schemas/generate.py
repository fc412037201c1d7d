"""Writes strict JSON schemas for KubeRay's RayCluster, RayJob and RayCronJob (ray.io/v1) from the CRDs of one
KubeRay release, so that `infra/check.py` can validate the manifests offline.

    git clone --depth 1 --branch v1.6.2 https://github.com/ray-project/kuberay /tmp/kuberay
    python infra/schemas/generate.py --crds /tmp/kuberay/ray-operator/config/crd/bases --release v1.6.2

The CRDs' OpenAPI v3 schemas become JSON Schema (draft 2020-12): every object that lists its fields rejects
any other field (as `kubectl apply`'s strict field validation does), `nullable` becomes a null type, and the
Kubernetes extensions (`x-kubernetes-*`, including the CEL rules, which this does not check) are dropped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

CRD_FILES = {
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayCronJob": "ray.io_raycronjobs.yaml",
}
API_VERSION = "ray.io/v1"


def strict_schema(node: object) -> object:
    """The JSON Schema of one OpenAPI v3 schema node (and of everything below it)."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: strict_schema(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if schema.pop("nullable", False):
        schema["type"] = [schema["type"], "null"]
    if "properties" in node and "additionalProperties" not in node:
        schema["additionalProperties"] = False
    return schema


def kind_schema(crd: dict, kind: str, source: str) -> dict:
    """The schema of a whole `ray.io/v1` object of ``kind`` (without `status`, which manifests do not set)."""
    if crd["spec"]["names"]["kind"] != kind:
        raise ValueError(f"{source} defines {crd['spec']['names']['kind']}, not {kind}")
    (version,) = [version for version in crd["spec"]["versions"] if version["name"] == API_VERSION.split("/")[1]]
    openapi = dict(version["schema"]["openAPIV3Schema"])
    openapi["properties"] = {name: value for name, value in openapi["properties"].items() if name != "status"}
    schema = strict_schema(openapi)
    schema["properties"]["apiVersion"] = {"const": API_VERSION}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$comment": f"generated from {source}", **schema}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crds", type=Path, required=True, help="KubeRay's ray-operator/config/crd/bases of RELEASE")
    parser.add_argument("--release", required=True, help="the KubeRay release the CRDs come from, e.g. v1.6.2")
    parser.add_argument("--output", type=Path, help="default: infra/schemas/kuberay-RELEASE")
    args = parser.parse_args(argv)
    output = args.output or Path(__file__).parent / f"kuberay-{args.release}"
    output.mkdir(parents=True, exist_ok=True)
    for kind, filename in CRD_FILES.items():
        crd = yaml.safe_load((args.crds / filename).read_text())
        source = f"ray-project/kuberay {args.release} ray-operator/config/crd/bases/{filename}"
        text = json.dumps(kind_schema(crd, kind, source), indent=1, sort_keys=True)
        (output / f"{kind.lower()}.json").write_text(text + "\n")
        print(f"{output / f'{kind.lower()}.json'}: {len(text) // 1024} KiB")


if __name__ == "__main__":
    main()
