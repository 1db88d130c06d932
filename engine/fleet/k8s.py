"""``--executor k8s --dry-run``: a Kubernetes Job manifest for users to apply.

segevo does not talk to a Kubernetes API itself; it prints two documents for
``kubectl apply -f -``:

- a ``Secret`` holding the run's token (``stringData.token``), mounted read-only into
  every pod at ``/var/run/segevo/token``, so the token never appears on a command line or
  in the pod spec;
- an indexed ``Job`` with ``parallelism = completions = --workers``: each pod runs
  ``segevo evaluator --connect HOST:PORT --token-file /var/run/segevo/token --name
  fleet-k8s-$(JOB_COMPLETION_INDEX)``, requests ``nvidia.com/gpu`` when
  ``--gpus-per-worker`` is set, and is replaced when it fails (``backoffLimit``: 3 per worker).
"""

from __future__ import annotations

import json
import re
from typing import Any

from segevo.engine.fleet.spec import FleetError, FleetTarget, WorkerSpec, evaluator_args

TOKEN_DIR = "/var/run/segevo"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_name(value: str, what: str) -> None:
    if len(value) > 63 or not _NAME.match(value):
        raise FleetError(
            f"{what} {value!r} is not a Kubernetes name (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )


def manifest(
    target: FleetTarget,
    spec: WorkerSpec,
    *,
    image: str,
    namespace: str = "default",
    name: str | None = None,
) -> list[dict[str, Any]]:
    """The Secret and the Job (as plain dicts, in the order to apply them)."""
    if not image or any(c.isspace() for c in image):
        raise FleetError(f"--image must name a container image with segevo in it, got {image!r}")
    if spec.partition:
        raise FleetError("--partition is a Slurm option; Kubernetes has none")
    job_name = name or f"segevo-{target.run_id}"
    _check_name(job_name, "the job name")
    _check_name(namespace, "--namespace")
    secret_name = f"{job_name}-token"
    labels = {"app.kubernetes.io/name": "segevo-evaluator", "segevo.run": target.run_id}
    args = evaluator_args(
        target, "fleet-k8s-$(JOB_COMPLETION_INDEX)", spec, token_file=f"{TOKEN_DIR}/token"
    )
    resources: dict[str, Any] = {"requests": {"cpu": str(spec.cpus_per_worker)}}
    if spec.memory_gb is not None:
        resources["requests"]["memory"] = f"{int(spec.memory_gb * 1024)}Mi"
    if spec.gpus_per_worker:
        resources["limits"] = {"nvidia.com/gpu": spec.gpus_per_worker}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": {"token": target.token.decode()},
    }
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.workers,
        "parallelism": spec.workers,
        # Pods that fail (a node lost, pre-emption) are replaced, a few times each.
        "backoffLimit": 3 * spec.workers,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "evaluator",
                        "image": image,
                        "command": ["segevo"],
                        "args": args,
                        "env": [
                            {
                                "name": "JOB_COMPLETION_INDEX",
                                "valueFrom": {
                                    "fieldRef": {
                                        "fieldPath": (
                                            "metadata.annotations"
                                            "['batch.kubernetes.io/job-completion-index']"
                                        )
                                    }
                                },
                            }
                        ],
                        "resources": resources,
                        "volumeMounts": [
                            {"name": "segevo-token", "mountPath": TOKEN_DIR, "readOnly": True}
                        ],
                    }
                ],
                "volumes": [
                    {
                        "name": "segevo-token",
                        "secret": {"secretName": secret_name, "defaultMode": 0o400},
                    }
                ],
            },
        },
    }
    if spec.time_min is not None:
        job_spec["activeDeadlineSeconds"] = spec.time_min * 60
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name, "namespace": namespace, "labels": labels},
        "spec": job_spec,
    }
    return [secret, job]


def to_yaml(documents: list[dict[str, Any]]) -> str:
    """The documents as YAML (PyYAML when installed; else JSON, which YAML also reads)."""
    try:
        import yaml
    except ImportError:
        return "\n---\n".join(json.dumps(doc, indent=2) for doc in documents) + "\n"
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


__all__ = ["TOKEN_DIR", "manifest", "to_yaml"]
