"""deploy/helm/stitch-connector renders what teams run: for every account its own PVC, Secret
mounts and sync CronJob, or its own service (then no CronJob: one writer per state volume),
optionally a shared Playwright browser pool; every object valid Kubernetes, every pod hardened
as the hand-written manifests are, and two accounts' objects independent. `helm lint` and
`helm template` run for real (scripts/install-helm.sh puts a pinned Helm in .tools/bin)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_kubernetes import validate

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "stitch-connector"
TWO = {
    "accounts": [
        {
            "name": "na",
            "baseUrl": "https://app.stitchdata.com",
            "credentialsSecret": "stitch-na",
            "serviceSecret": "stitch-na-service",
            "env": {"STITCH_PROTECTED_EMAILS": "ceo@example.com"},
        },
        {
            "name": "eu",
            "baseUrl": "https://app.eu.example.com",
            "credentialsSecret": "stitch-eu",
            "serviceSecret": "stitch-eu-service",
            "schedule": "41 * * * *",
        },
    ]
}


def helm() -> str:
    found = ROOT / ".tools" / "bin" / "helm"
    if found.is_file():
        return str(found)
    on_path = shutil.which("helm")
    if on_path is None:
        pytest.fail("no helm: run scripts/install-helm.sh (scripts/bootstrap.sh setup does)")
    return on_path


def template(values: dict[str, Any], tmp_path: Path, *sets: str) -> Any:
    given = tmp_path / "values.yaml"
    given.write_text(yaml.safe_dump(values))
    extra = [a for s in sets for a in ("--set", s)]
    return subprocess.run(
        [helm(), "template", "rel", str(CHART), "-f", str(given), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def render(values: dict[str, Any], tmp_path: Path, *sets: str) -> list[dict[str, Any]]:
    done = template(values, tmp_path, *sets)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refused(values: dict[str, Any], tmp_path: Path, *sets: str) -> str:
    done = template(values, tmp_path, *sets)
    assert done.returncode != 0
    return str(done.stderr)


def kinds(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["metadata"]["name"]) for d in docs)


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for d in docs:
        if d["kind"] == "CronJob":
            specs.append(
                (d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            )
        elif d["kind"] == "Deployment":
            specs.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
    return specs


def env_of(spec: dict[str, Any]) -> dict[str, str]:
    (container,) = spec["containers"]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_helm_lint_passes() -> None:
    done = subprocess.run([helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_accounts_each_get_a_pvc_and_a_sync_cronjob_of_their_own(tmp_path: Path) -> None:
    docs = render(TWO, tmp_path)
    assert kinds(docs) == [
        ("CronJob", "rel-eu-sync"),
        ("CronJob", "rel-na-sync"),
        ("PersistentVolumeClaim", "rel-eu-state"),
        ("PersistentVolumeClaim", "rel-na-state"),
    ]
    for doc in docs:
        validate(doc, f"{doc['kind']} {doc['metadata']['name']}")
    for name, spec in pod_specs(docs):
        account = name.split("-")[1]
        (container,) = spec["containers"]
        assert container["args"] == ["sync"]
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in spec["volumes"]
            if "persistentVolumeClaim" in v
        }
        secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        assert claims == {f"rel-{account}-state"} and secrets == {f"stitch-{account}"}
        env = env_of(spec)
        assert env["STITCH_STATE_DIR"] == "/var/lib/stitch-connector"
        assert env["STITCH_PASSWORD_FILE"].startswith("/run/secrets/")
        assert not {"STITCH_PASSWORD", "STITCH_TOTP_SECRET"} & set(env)  # files only
    na = dict(pod_specs(docs))["rel-na-sync"]
    eu = dict(pod_specs(docs))["rel-eu-sync"]
    assert env_of(na)["STITCH_BASE_URL"] == "https://app.stitchdata.com"
    assert env_of(eu)["STITCH_BASE_URL"] == "https://app.eu.example.com"
    assert "STITCH_PROTECTED_EMAILS" in env_of(na) and "STITCH_PROTECTED_EMAILS" not in env_of(eu)
    schedules = {
        d["metadata"]["name"]: d["spec"]["schedule"] for d in docs if d["kind"] == "CronJob"
    }
    assert schedules == {"rel-na-sync": "17 * * * *", "rel-eu-sync": "41 * * * *"}


def test_with_the_service_each_account_has_one_and_no_cronjob_writes_its_state(
    tmp_path: Path,
) -> None:
    docs = render(TWO, tmp_path, "serve.enabled=true")
    assert not [d for d in docs if d["kind"] == "CronJob"]  # one writer per state volume
    for doc in docs:
        validate(doc, f"{doc['kind']} {doc['metadata']['name']}")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert sorted(d["metadata"]["name"] for d in deployments) == ["rel-eu-serve", "rel-na-serve"]
    for d in deployments:
        account = d["metadata"]["labels"]["stitch-connector/account"]
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate"
        spec = d["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["args"][:1] == ["serve"] and "--sync-every" in container["args"]
        secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        assert secrets == {f"stitch-{account}", f"stitch-{account}-service"}
        assert d["spec"]["selector"]["matchLabels"]["stitch-connector/account"] == account
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for account in ("na", "eu"):
        selector = services[f"rel-{account}-serve"]["spec"]["selector"]
        assert selector["stitch-connector/account"] == account  # never the other account's pod
        chosen = policies[f"rel-{account}-serve"]["spec"]["podSelector"]["matchLabels"]
        assert chosen["stitch-connector/account"] == account


def test_the_browser_pool_serves_every_account_and_is_hardened_too(tmp_path: Path) -> None:
    docs = render(TWO, tmp_path, "browserPool.enabled=true")
    for doc in docs:
        validate(doc, f"{doc['kind']} {doc['metadata']['name']}")
    assert ("Deployment", "rel-browser-pool") in kinds(docs)
    assert ("Service", "rel-browser-pool") in kinds(docs)
    for name, spec in pod_specs(docs):
        if name != "rel-browser-pool":
            assert env_of(spec)["STITCH_BROWSER_WS_ENDPOINT"] == "ws://rel-browser-pool:3000/"


def test_every_pod_keeps_the_hardening_of_the_hand_written_manifests(tmp_path: Path) -> None:
    for sets in ([], ["serve.enabled=true"], ["browserPool.enabled=true"]):
        for name, spec in pod_specs(render(TWO, tmp_path, *sets)):
            assert spec["automountServiceAccountToken"] is False, name
            pod = spec["securityContext"]
            assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
            for container in spec["containers"]:
                own = container["securityContext"]
                assert own["allowPrivilegeEscalation"] is False, name
                assert own["readOnlyRootFilesystem"] is True, name
                assert own["capabilities"]["drop"] == ["ALL"], name
                assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), name


@pytest.mark.parametrize(
    ("values", "sets", "words"),
    [
        ({"accounts": [TWO["accounts"][0], TWO["accounts"][0]]}, [], "listed twice"),
        ({"accounts": [{**TWO["accounts"][0], "name": "NA_1"}]}, [], "accounts.0.name"),
        (
            {
                "accounts": [
                    {"name": "na", "baseUrl": "https://x.example.com", "credentialsSecret": "s"}
                ]
            },
            ["serve.enabled=true"],
            "serviceSecret",
        ),
        (
            {"accounts": [{**TWO["accounts"][1], "env": {"STITCH_PASSWORD": "x"}}]},
            [],
            "STITCH_PASSWORD",
        ),
        (
            {"accounts": [{**TWO["accounts"][1], "baseUrl": "app.stitchdata.com"}]},
            [],
            "accounts.0.baseUrl",
        ),
        ({"accounts": []}, [], "accounts"),
    ],
)
def test_values_that_cannot_work_are_refused_at_render(
    tmp_path: Path, values: dict[str, Any], sets: list[str], words: str
) -> None:
    assert words in refused(values, tmp_path, *sets)


def test_a_shared_service_serves_every_account_from_an_accounts_file_the_connector_accepts(
    tmp_path: Path,
) -> None:
    from connector import accounts

    docs = render(TWO, tmp_path, "serve.enabled=true", "serve.mode=shared")
    assert not [d for d in docs if d["kind"] == "CronJob"]  # one writer per state volume
    for doc in docs:
        validate(doc, f"{doc['kind']} {doc['metadata']['name']}")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    claims = sorted(
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    )
    assert claims == ["rel-eu-state", "rel-na-state"] and deployment["spec"]["replicas"] == 1
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    file = tmp_path / "accounts.toml"
    file.write_text(config["data"]["accounts.toml"])
    loaded = accounts.load_accounts(file)  # the connector's own check: files only, known keys
    assert sorted(loaded) == ["eu", "na"]
    assert loaded["na"]["protected_emails"] == "ceo@example.com"
    assert loaded["eu"]["state_dir"] == "/var/lib/stitch-connector/accounts/eu"
    assert loaded["eu"]["password_file"] == "/run/secrets/stitch/eu/password"
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/run/secrets/stitch/eu", "/var/lib/stitch-connector/accounts/na"} <= mounts
