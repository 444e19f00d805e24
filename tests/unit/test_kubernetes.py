"""deploy/kubernetes/ stays deployable: every manifest validates against the Kubernetes schemas
(kubernetes-validate ships them; nothing is fetched), and the pods keep the contract the image and
the connector rely on: credentials as mounted files, the state dir on the PVC, a non-root user, a
read-only root with a writable /tmp, a sync that never overlaps itself, one service pod per state
volume behind a NetworkPolicy, and a one-off Job that pasted text cannot add arguments to."""

from __future__ import annotations

import ipaddress
import re
import subprocess
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
SERVICE_SECRET_ENV = ("STITCH_SERVICE_TOKENS", "STITCH_CALLBACK_SECRET")
CREDENTIALS = "stitch-connector-example-credentials"
SERVICE_SECRETS = "stitch-connector-example-service"
UID = 10001
RENDER = ROOT / "scripts" / "render-offboard-job.sh"


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


def validate(doc: dict[str, Any], what: str) -> None:
    kv = kubernetes_validate()
    for version in (OLDEST, kv.latest_version()):
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{what} ({doc['kind']}) is not valid Kubernetes {version}: {exc}")


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """(what, pod spec) for the CronJob, the Job and the service's Deployment."""
    specs = [
        (f"CronJob {c['metadata']['name']}", c["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for c in of_kind("CronJob")
    ]
    specs += [
        (f"Job {j['metadata']['name']}", j["spec"]["template"]["spec"]) for j in of_kind("Job")
    ]
    specs += [
        (f"Deployment {d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in of_kind("Deployment")
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


def test_the_deployment_has_a_sync_a_job_a_service_their_secrets_and_a_pvc() -> None:
    kinds = sorted(doc["kind"] for _, doc in manifests())
    assert kinds == [
        "CronJob",
        "Deployment",
        "Job",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Secret",
        "Secret",
        "Service",
    ]


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
    container = the_container(job["spec"]["template"]["spec"])
    args = container["args"]
    assert args[0] == "deactivate" and "--yes" in args
    assert args[args.index("--request-id") + 1] == "${REQUEST_ID}"
    assert args[args.index("--actor") + 1] == "orchestrator"
    # The email is one environment value, expanded by Kubernetes into exactly one argument after
    # `--`: never text in the argument list itself.
    assert args[-2:] == ["--", "$(OFFBOARD_EMAIL)"]
    assert not any("${EMAIL}" in a for a in args)
    env = {e["name"]: e for e in container["env"]}
    assert env["OFFBOARD_EMAIL"] == {"name": "OFFBOARD_EMAIL", "value": "${EMAIL}"}
    assert "${REQUEST_ID}" in job["metadata"]["name"]  # the same request cannot be created twice


def kubernetes_argv(container: dict[str, Any]) -> list[str]:
    """The argument list as the kubelet hands it over: $(NAME) is the container's env value NAME,
    whole, never split (no shell is involved)."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return [
        re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], a)
        for a in container["args"]
    ]


def envsubst(text: str, **values: str) -> str:
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


HOSTILE = [
    "a@x.com\n- --override-budget",
    "--yes",
    "--override-budget",
    "a@x.com --override-budget",
    "a@x.com\n            - --override-budget",
]


@pytest.mark.parametrize("email", HOSTILE)
def test_even_a_bare_envsubst_cannot_add_an_argument_to_the_job(email: str) -> None:
    """Not the supported way (scripts/render-offboard-job.sh is), but a hostile email filled in
    with envsubst stays one inert argument after `--`, or the YAML does not load at all."""
    text = envsubst((DEPLOY / "job-offboard.yaml").read_text(), REQUEST_ID="hr-1", EMAIL=email)
    try:
        (job,) = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError:
        return  # refused: kubectl would refuse it too
    argv = kubernetes_argv(the_container(job["spec"]["template"]["spec"]))
    assert argv[: argv.index("--")] == [
        "deactivate",
        "--yes",
        "--json",
        "--request-id",
        "hr-1",
        "--actor",
        "orchestrator",
        "--reason",
        "offboarding",
    ]
    assert len(argv) == argv.index("--") + 2  # the email (inert, the connector refuses it) only
    assert argv[-1].split() == email.split()  # the whole value, as one argument


def render(request_id: str, email: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(RENDER), request_id, email],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


GOOD_EMAILS = [
    "leaver@example.com",
    "Ann.Lee+stitch@corp.example.co.uk",
    "o'brien@xn--bcher-kva.de",
]


@pytest.mark.parametrize("email", GOOD_EMAILS)
def test_the_render_script_fills_in_a_valid_job_with_one_email_argument(email: str) -> None:
    from connector.policy import requested_emails

    done = render("hr-1234", email)
    assert done.returncode == 0, done.stderr
    (job,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    validate(job, "the rendered job-offboard.yaml")
    assert job["metadata"]["name"] == "stitch-offboard-example-hr-1234"
    argv = kubernetes_argv(the_container(job["spec"]["template"]["spec"]))
    assert argv[-2:] == ["--", email] and argv[argv.index("--request-id") + 1] == "hr-1234"
    assert "${" not in done.stdout
    assert requested_emails([email]) == [email.lower()]  # the script is stricter, never looser


@pytest.mark.parametrize(
    "email",
    [
        *HOSTILE,
        "-x@example.com",
        ".x@example.com",
        "a..b@example.com",
        'a"b@example.com',
        "a b@example.com",
        " a@example.com",
        "a@example.com\r",
        "a@example.com\x07",  # (a NUL cannot be an argument at all)
        "a\u202e@example.com",  # bidi override
        "a\x1b[31m@example.com",  # ANSI escape
        "$(STITCH_PASSWORD_FILE)@example.com",
        "${EMAIL}@example.com",
        "a@example",
        "a@-example.com",
        "a@example..com",
        "a@example.com.",
        "ü@example.com",
        "a@bücher.de",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "a@example.com\nkind: Pod",
        "",
    ],
)
def test_the_render_script_refuses_what_is_not_plainly_an_email(email: str) -> None:
    done = render("hr-1234", email)
    assert done.returncode == 2, done.stdout
    assert done.stdout == "" and done.stderr.startswith("error: ")


@pytest.mark.parametrize(
    "request_id", ["HR-1234", "-hr", "hr-", "hr_1", "hr 1", "hr-1\nx", "a" * 40, "", "${EMAIL}"]
)
def test_the_render_script_refuses_a_request_id_that_cannot_name_a_job(request_id: str) -> None:
    done = render(request_id, "leaver@example.com")
    assert done.returncode == 2 and done.stdout == ""


def test_the_render_script_takes_exactly_two_arguments() -> None:
    done = subprocess.run(
        ["bash", str(RENDER), "hr-1", "a@example.com", "--override-budget"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == "" and "usage" in done.stderr


@pytest.mark.parametrize(("what", "spec"), pod_specs(), ids=[what for what, _ in pod_specs()])
def test_credentials_come_from_mounted_secret_files_only(what: str, spec: dict[str, Any]) -> None:
    secret = named("Secret", CREDENTIALS)
    container = the_container(spec)
    env = {e["name"]: e for e in container["env"]}
    for name in (*SECRET_ENV, *SERVICE_SECRET_ENV):
        assert name not in env, f"{what}: {name} as a value; use {name}_FILE"
    assert not any("valueFrom" in e for e in container["env"]), f"{what}: secrets as env values"
    assert "envFrom" not in container
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == CREDENTIALS]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    for name in SECRET_ENV:
        path = Path(env[f"{name}_FILE"]["value"])
        assert path.parent == Path(mount["mountPath"]), f"{what}: {name}_FILE outside the secret"
        assert path.name in secret["stringData"], f"{what}: the Secret has no key {path.name}"
    for v in spec["volumes"]:
        if "secret" in v:
            assert v["secret"]["defaultMode"] & 0o007 == 0, f"{what}: secret files readable by all"


def test_the_committed_secrets_hold_placeholders_only() -> None:
    credentials = named("Secret", CREDENTIALS)
    data = credentials["stringData"]
    assert data["password"] == "REPLACE_ME"
    assert data["email"].endswith("@example.com") and data["totp-secret"] == ""
    service = named("Secret", SERVICE_SECRETS)
    assert service["stringData"]["callback-secret"] == "REPLACE_ME"
    tokens = [t.split(":") for t in service["stringData"]["tokens"].split(",")]
    assert all(len(t) == 3 and t[2] == "REPLACE_ME" for t in tokens), tokens
    assert {t[1] for t in tokens} <= {"read", "jobs", "scim", "write"}
    assert ["probe", "read"] in [t[:2] for t in tokens]  # the readiness probe's, read-only
    for secret in of_kind("Secret"):
        assert "data" not in secret


@pytest.mark.parametrize(("what", "spec"), pod_specs(), ids=[what for what, _ in pod_specs()])
def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(
    what: str, spec: dict[str, Any]
) -> None:
    assert f"USER {UID}:{UID}" in (ROOT / "Dockerfile").read_text()
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, what
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == UID, what
    assert spec["automountServiceAccountToken"] is False
    container = the_container(spec)
    box = container["securityContext"]
    assert box["allowPrivilegeEscalation"] is False and box["readOnlyRootFilesystem"] is True
    assert box["privileged"] is False
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


# --- the offboarding service: Deployment, Service, NetworkPolicy ----------------------------


def the_service_pod() -> tuple[dict[str, Any], dict[str, Any]]:
    (deployment,) = of_kind("Deployment")
    return deployment, deployment["spec"]["template"]


def test_the_service_runs_one_pod_per_state_volume_and_stops_it_before_the_next() -> None:
    deployment, template = the_service_pod()
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two on one volume
    labels = template["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    args = the_container(template["spec"])["args"]
    assert args[0] == "serve"
    assert args[args.index("--host") + 1] == "0.0.0.0"  # reached through the Service
    assert int(args[args.index("--sync-every") + 1]) >= 60  # it reads the roster: no CronJob
    # Longer than serve --grace (default 30 s): a removal in progress may finish.
    grace = int(args[args.index("--grace") + 1]) if "--grace" in args else 30
    assert template["spec"]["terminationGracePeriodSeconds"] > grace + 5
    text = (DEPLOY / "deployment-serve.yaml").read_text()
    assert "cronjob-sync.yaml" in text and "--sync-every" in text  # says not to run both


def test_the_service_probes_liveness_on_healthz_and_readiness_on_readyz() -> None:
    _, template = the_service_pod()
    container = the_container(template["spec"])
    (port,) = container["ports"]
    args = container["args"]
    assert port["containerPort"] == int(args[args.index("--port") + 1])
    live = container["livenessProbe"]
    assert live["httpGet"] == {"path": "/healthz", "port": port["name"]}  # no token, no Stitch
    ready = container["readinessProbe"]
    # /readyz wants a read token: the probe reads it from the mounted Secret, never the spec.
    command = ready["exec"]["command"]
    script = command[-1]
    assert f"http://127.0.0.1:{port['containerPort']}/readyz" in script
    tokens_file = {e["name"]: e["value"] for e in container["env"]}["STITCH_SERVICE_TOKENS_FILE"]
    assert f'open("{tokens_file}")' in script and 'startswith("probe:")' in script
    compile(script, "readinessProbe", "exec")  # the probe is real Python
    assert ready["timeoutSeconds"] >= 30 and ready["periodSeconds"] >= ready["timeoutSeconds"]


def test_the_service_tokens_and_callback_secret_are_mounted_files() -> None:
    _, template = the_service_pod()
    spec = template["spec"]
    container = the_container(spec)
    env = {e["name"]: e["value"] for e in container["env"]}
    (volume,) = [
        v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == SERVICE_SECRETS
    ]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    keys = named("Secret", SERVICE_SECRETS)["stringData"]
    for name in SERVICE_SECRET_ENV:
        path = Path(env[f"{name}_FILE"])
        assert path.parent == Path(mount["mountPath"]) and path.name in keys, name
    assert env["STITCH_CALLBACK_HOSTS"]  # callbacks go only to named receivers


def test_the_cluster_ip_service_reaches_the_service_pod() -> None:
    _, template = the_service_pod()
    (service,) = of_kind("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == template["metadata"]["labels"]
    (port,) = service["spec"]["ports"]
    (container_port,) = the_container(template["spec"])["ports"]
    assert port["targetPort"] == container_port["name"]


def test_the_network_policy_lets_in_the_service_port_and_out_dns_https_and_callbacks() -> None:
    _, template = the_service_pod()
    (policy,) = of_kind("NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == template["metadata"]["labels"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    (container_port,) = the_container(template["spec"])["ports"]
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": container_port["containerPort"], "protocol": "TCP"}]

    egress = spec["egress"]
    assert all(rule.get("ports") and rule.get("to") for rule in egress)  # nothing unbounded
    dns, stitch, callbacks = egress
    (resolver,) = dns["to"]
    assert resolver["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert resolver["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]

    assert stitch["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = {b["ipBlock"]["cidr"]: b["ipBlock"].get("except", []) for b in stitch["to"]}
    assert set(blocks) == {"0.0.0.0/0", "::/0"}
    refused = [ipaddress.ip_network(n) for cidrs in blocks.values() for n in cidrs]
    for inside in (
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",
        "fd00:ec2::254",  # metadata (IPv6)
        "fe80::1",
        "::1",
    ):
        address = ipaddress.ip_address(inside)
        assert any(address in n for n in refused if n.version == address.version), inside
    text = (DEPLOY / "networkpolicy-serve.yaml").read_text()
    assert "app.stitchdata.com" in text and "login.us.cloud.talend.com" in text  # documented

    assert callbacks["to"] and all(
        ipaddress.ip_network(b["ipBlock"]["cidr"]).prefixlen >= 24 for b in callbacks["to"]
    )


@pytest.mark.parametrize(("answer", "ready"), [(200, True), (503, False), (401, False)])
def test_the_readiness_probe_asks_readyz_with_the_probe_token(
    tmp_path: Path, answer: int, ready: bool
) -> None:
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[tuple[str, str | None]] = []

    class Readyz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server API
            asked.append((self.path, self.headers.get("Authorization")))
            self.send_response(answer)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    _, template = the_service_pod()
    container = the_container(template["spec"])
    script = container["readinessProbe"]["exec"]["command"][-1]
    tokens_file = {e["name"]: e["value"] for e in container["env"]}["STITCH_SERVICE_TOKENS_FILE"]
    tokens = tmp_path / "tokens"
    tokens.write_text("okta:scim:s3cret, probe:read:probe-token ,airflow:jobs:other\n")
    with ThreadingHTTPServer(("127.0.0.1", 0), Readyz) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        local = script.replace(tokens_file, str(tokens)).replace(
            "127.0.0.1:8080", f"127.0.0.1:{port}"
        )
        done = subprocess.run(
            [sys.executable, "-c", local], capture_output=True, text=True, check=False, timeout=60
        )
        server.shutdown()
    assert asked == [("/readyz", "Bearer probe-token")]
    assert (done.returncode == 0) is ready, done.stderr
