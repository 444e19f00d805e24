"""Callback URLs at submit: an allow-list or nothing, no userinfo, no internal address in any
spelling (decimal, hex, octal, short, IPv4-mapped IPv6), and never a secret shown back. No DNS
and no network: every check here is on the URL text."""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import AnyHttpUrl

from connector.errors import ConfigError
from connector.offboard_queue.models import Job, JobStatus
from connector.offboard_queue.public import job_body
from connector.service.routes import check_callback
from connector.settings import load_settings

CATCH_ALL = "0.0.0.0/0,::/0,hooks.example.com"

# Every one of these names an internal address: refused at submit.
INTERNAL = [
    "http://127.0.0.1:9/hook",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",  # in hex
    "http://0177.0.0.1/",  # in octal
    "http://127.1/",  # short dotted
    "http://0x7f.1/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::1]:8080/",
    "https://10.0.0.1:6443/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "https://[::ffff:169.254.169.254]/",
    "https://169.254.1.1/",  # link-local
    "https://[fe80::1]/",
    "https://[fc00::1]/",  # unique-local
    "https://[fd12:3456::1]/",
    "https://100.64.0.1/",  # CGNAT
    "https://224.0.0.1/",  # multicast
    "https://[ff02::1]/",
    "https://0.0.0.0/",  # unspecified
    "https://[::]/",
    "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "https://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any lookup or connection here is a bug: the submit check is on the text alone."""

    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise AssertionError("the submit-time check used the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for key in list(os.environ):
        if key.startswith("STITCH_"):
            monkeypatch.delenv(key)


def check(url: str, hosts: str | None, tmp_path: Path) -> None:
    settings = load_settings(
        callback_secret="callback-secret-0123456789",
        state_dir=tmp_path,
        **({"callback_hosts": hosts} if hosts is not None else {}),
    )
    check_callback(settings, AnyHttpUrl(url))


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_at_submit_in_every_spelling(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="callbacks are off: set STITCH_CALLBACK_HOSTS"):
        check(url, None, tmp_path)
    # Even an allow-list of every address lets no internal one through: only an entry inside
    # the blocked range does.
    with pytest.raises(ConfigError, match="not on STITCH_CALLBACK_HOSTS") as refused:
        check(url, CATCH_ALL, tmp_path)
    assert refused.value.hint


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::ffff:a9fe:a9fe]", "169.254.169.254"),
        ("017700000001", "127.0.0.1"),
    ],
)
def test_numeric_spellings_are_normalised(spelling: str, address: str) -> None:
    from connector.offboard_queue.addresses import AllowList, check_callback_url, parse_address

    assert parse_address(spelling) == ipaddress.ip_address(address)
    assert parse_address("1.example.com") is None and parse_address("hooks.example.com") is None
    # Not even an allow-list of the whole address space lets the raw spelling through.
    with pytest.raises(ConfigError, match="not on STITCH_CALLBACK_HOSTS"):
        host = f"[{spelling}]" if ":" in spelling and "[" not in spelling else spelling
        check_callback_url(f"https://{host}/", AllowList.parse(CATCH_ALL.split(",")))


def test_no_allow_list_means_no_callbacks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="callbacks are off") as refused:
        check("https://hooks.example.com/stitch", None, tmp_path)
    assert "STITCH_CALLBACK_HOSTS" in refused.value.hint
    check("https://hooks.example.com/stitch", "hooks.example.com", tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        "https://kubernetes.default.svc/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://hooks.example.com.evil.test/",
        "https://evil.test/?hooks.example.com",
        "https://hooks.example.com:8443/",  # the entry names port 443 only
    ],
)
def test_hosts_not_on_the_allow_list_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not on STITCH_CALLBACK_HOSTS"):
        check(url, "hooks.example.com:443", tmp_path)


def test_userinfo_is_refused(tmp_path: Path) -> None:
    for url in (
        "https://user:pw@hooks.example.com/x",
        "https://token@hooks.example.com/x",
        "https://hooks.example.com@evil.test/x",
    ):
        with pytest.raises(ConfigError, match=r"user name or password|not on"):
            check(url, "hooks.example.com", tmp_path)


def test_the_allow_list_opens_exactly_what_it_names(tmp_path: Path) -> None:
    from connector.offboard_queue.addresses import AllowList

    allow = AllowList.parse(["127.0.0.1:8080", "10.1.2.0/24", "169.254.0.0/16", "0.0.0.0/0"])
    ip = ipaddress.ip_address
    assert allow.refusal(ip("127.0.0.1"), 8080) is None
    assert "loopback" in (allow.refusal(ip("127.0.0.1"), 8081) or "")
    assert "loopback" in (allow.refusal(ip("127.0.0.2"), 8080) or "")
    assert allow.refusal(ip("10.1.2.7"), 443) is None
    assert "private" in (allow.refusal(ip("10.1.3.7"), 443) or "")
    # The link-local entry does not open the metadata address: only naming it does.
    assert allow.refusal(ip("169.254.1.1"), 80) is None
    assert "metadata" in (allow.refusal(ip("169.254.169.254"), 80) or "")
    assert AllowList.parse(["169.254.169.254"]).refusal(ip("169.254.169.254"), 80) is None
    assert allow.refusal(ip("93.184.216.34"), 443) is None  # public: on a CIDR entry
    assert allow.refusal(ip("::ffff:127.0.0.1"), 8080) is None  # mapped: as IPv4
    check("http://127.0.0.1:8080/hook", "127.0.0.1:8080", tmp_path)
    check("https://[::1]:8443/hook", "[::1]:8443", tmp_path)
    with pytest.raises(ConfigError, match="must be https"):
        check("http://10.1.2.7/hook", "10.1.2.0/24", tmp_path)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "hooks.example.com:99999", "[::1", "a/b/c"])
def test_a_malformed_allow_list_entry_stops_the_start(entry: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STITCH_CALLBACK_HOSTS"):
        load_settings(callback_hosts=entry, state_dir=tmp_path)


def test_a_job_never_shows_its_callback_urls_secret_parts(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    job = Job(
        id="j1",
        request_id="r1",
        email="a@x.com",
        reason=None,
        requested_by="t",
        callback_url="https://user:pw@hooks.example.com:8443/stitch?token=s3cret#frag",
        source="api",
        status=JobStatus.QUEUED,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    body = job_body(job, tmp_path)
    assert body["callback_url"] == "https://hooks.example.com:8443/stitch"
    for secret in ("s3cret", "frag", "user", "pw@"):
        assert secret not in str(body)
