"""deploy/kubernetes/ stays deployable: every manifest validates against the Kubernetes schemas
(kubernetes-validate ships them; nothing is fetched), and the pods keep the contract the image and
the connector rely on: credentials as mounted files, the state dir on the PVC, a non-root user, a
read-only root with a writable /tmp, and a sync that never overlaps itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests support (podFailurePolicy by exit code alone), and the newest
# whose schemas kubernetes-validate ships.
OLDEST = "1.29.0"
SECRET_ENV = ("STITCH_EMAIL", "STITCH_PASSWORD", "STITCH_TOTP_SECRET")
UID = 10001


def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:  # pragma: no cover
        pytest.fail("kubernetes-validate is a test dependency: pip install -e '.[test]'")
    return kubernetes_validate


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """(what, pod spec) for the CronJob and the Job."""
    specs = [
        (f"CronJob {c['metadata']['name']}", c["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for c in of_kind("CronJob")
    ]
    specs += [
        (f"Job {j['metadata']['name']}", j["spec"]["template"]["spec"]) for j in of_kind("Job")
    ]
    return specs


def the_container(spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = spec["containers"]
    assert container["name"] == "stitch-connector"
    return container


def dockerfile_env(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", (ROOT / "Dockerfile").read_text())
    assert match, f"Dockerfile sets no {name}"
    return match.group(1)


def test_the_deployment_has_a_cronjob_a_job_a_secret_and_a_pvc() -> None:
    kinds = sorted(doc["kind"] for _, doc in manifests())
    assert kinds == ["CronJob", "Job", "PersistentVolumeClaim", "Secret"]


@pytest.mark.parametrize("version", [OLDEST, "latest"])
def test_every_manifest_validates_against_the_kubernetes_schemas(version: str) -> None:
    kv = kubernetes_validate()
    wanted = kv.latest_version() if version == "latest" else version
    for name, doc in manifests():
        try:
            kv.validate(doc, wanted, strict=True)  # strict: an unknown (misspelt) field fails too
        except kv.ValidationError as exc:
            pytest.fail(f"{name} ({doc['kind']}) is not valid Kubernetes {wanted}: {exc}")


def test_the_sync_cronjob_never_overlaps_and_fails_fast_on_what_a_retry_cannot_fix() -> None:
    (cronjob,) = of_kind("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert the_container(job["template"]["spec"])["args"] == ["sync"]
    assert job["activeDeadlineSeconds"] < 3600  # ends before the next hourly run is due
    (fail,) = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert fail["onExitCodes"] == {
        "containerName": "stitch-connector",
        "operator": "NotIn",
        "values": [6, 8],  # session lost, Stitch kept failing: the only retryable codes
    }


def test_the_offboarding_job_deactivates_once_as_the_orchestrator() -> None:
    (job,) = of_kind("Job")
    assert job["spec"]["backoffLimit"] == 0  # never retried by Kubernetes
    args = the_container(job["spec"]["template"]["spec"])["args"]
    assert args[0] == "deactivate" and "--yes" in args
    assert args[args.index("--request-id") + 1] == "${REQUEST_ID}"
    assert args[args.index("--actor") + 1] == "orchestrator"
    assert args[-1] == "${EMAIL}"
    assert "${REQUEST_ID}" in job["metadata"]["name"]  # the same request cannot be created twice


@pytest.mark.parametrize(("what", "spec"), pod_specs(), ids=[what for what, _ in pod_specs()])
def test_credentials_come_from_mounted_secret_files_only(what: str, spec: dict[str, Any]) -> None:
    (secret,) = of_kind("Secret")
    container = the_container(spec)
    env = {e["name"]: e for e in container["env"]}
    for name in SECRET_ENV:
        assert name not in env, f"{what}: {name} as a value; use {name}_FILE"
    assert not any("valueFrom" in e for e in container["env"]), f"{what}: secrets as env values"
    assert "envFrom" not in container
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    for name in SECRET_ENV:
        path = Path(env[f"{name}_FILE"]["value"])
        assert path.parent == Path(mount["mountPath"]), f"{what}: {name}_FILE outside the secret"
        assert path.name in secret["stringData"], f"{what}: the Secret has no key {path.name}"
    assert volume["secret"]["defaultMode"] & 0o007 == 0, f"{what}: secret files readable by all"


def test_the_committed_secret_holds_placeholders_only() -> None:
    (secret,) = of_kind("Secret")
    data = secret["stringData"]
    assert data["password"] == "REPLACE_ME"
    assert data["email"].endswith("@example.com") and data["totp-secret"] == ""
    assert "data" not in secret


@pytest.mark.parametrize(("what", "spec"), pod_specs(), ids=[what for what, _ in pod_specs()])
def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(
    what: str, spec: dict[str, Any]
) -> None:
    assert f"USER {UID}:{UID}" in (ROOT / "Dockerfile").read_text()
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == UID, what
    assert spec["automountServiceAccountToken"] is False
    container = the_container(spec)
    box = container["securityContext"]
    assert box["allowPrivilegeEscalation"] is False and box["readOnlyRootFilesystem"] is True
    assert box["capabilities"]["drop"] == ["ALL"] and "add" not in box["capabilities"]
    assert not container["image"].endswith(":latest")
    resources = container["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]


@pytest.mark.parametrize(("what", "spec"), pod_specs(), ids=[what for what, _ in pod_specs()])
def test_the_writable_places_are_the_state_pvc_and_an_empty_dir_tmp(
    what: str, spec: dict[str, Any]
) -> None:
    (pvc,) = of_kind("PersistentVolumeClaim")
    container = the_container(spec)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    state_dir = dockerfile_env("STITCH_STATE_DIR")
    assert mounts[state_dir]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env.get("STITCH_STATE_DIR", state_dir) == state_dir
    assert "emptyDir" in mounts["/tmp"], f"{what}: Chromium needs a writable /tmp"
