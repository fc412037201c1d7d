#!/usr/bin/env bash
# One scheduled run, inside the CronJob's Job: copy the suspended RayJob template under a name made from this Job's
# own, wait for that RayJob to end, and exit 0 only when `facepipe nightly` succeeded. A retried pod of the same
# Job finds the RayJob already there and waits for it: a run is never submitted twice. The RayJob is owned by the
# Job, so the CronJob's history limits delete old RayJobs (and their clusters) with their Jobs.
# Environment: TEMPLATE (the RayJob to copy), JOB_NAME and JOB_UID (this pod's Job, from its labels), and
# POLL_SECONDS (between looks at the RayJob's state; 60).
set -euo pipefail

# Not the Job's name itself: KubeRay names its own submitter Job after the RayJob.
rayjob="$JOB_NAME-ray"

if [ -z "$(kubectl get rayjob "$rayjob" --ignore-not-found --output name)" ]; then
  copy='{"metadata": {"name": "'"$rayjob"'",
    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "'"$JOB_NAME"'", "uid": "'"$JOB_UID"'"}],
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": null},
    "uid": null, "resourceVersion": null, "generation": null, "creationTimestamp": null,
    "managedFields": null, "finalizers": null},
    "spec": {"suspend": false}, "status": null}'
  kubectl get rayjob "$TEMPLATE" --output yaml \
    | kubectl patch --local --filename - --type merge --patch "$copy" --output yaml \
    | kubectl create --filename -
else
  echo "RayJob $rayjob exists already (this pod is a retry): waiting for it"
fi

while true; do
  state="$(kubectl get rayjob "$rayjob" --output jsonpath='{.status.jobDeploymentStatus} {.status.jobStatus}')"
  case "$state" in
    "Complete SUCCEEDED")
      echo "RayJob $rayjob succeeded"
      exit 0 ;;
    Complete* | Failed* | ValidationFailed*)
      why="$(kubectl get rayjob "$rayjob" --output jsonpath='{.status.reason}: {.status.message}')"
      echo "RayJob $rayjob ended $state: $why" >&2
      exit 1 ;;
  esac
  sleep "${POLL_SECONDS:-60}"
done
