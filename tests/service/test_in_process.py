"""The in-process services the suite runs (in_process.py): real, and sharing one Chromium."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MakeSandbox
from tests.service.conftest import StartService, all_writes, team_box
from tests.service.in_process import ServiceLoop


def test_services_in_this_process_borrow_one_chromium_and_leave_it_running(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    start_service: StartService,
    service_loop: ServiceLoop,
) -> None:
    box = team_box(make_sandbox, tmp_path)
    assert service_loop.reuse is not None
    first = start_service(box, tmp_path / "one")
    with first.client() as http:
        assert http.post("/v1/sync").status_code == 200  # a browser run
    assert service_loop.reuse.opened == 1  # the loop's one Chromium: borrowed, not its own
    first.stop()  # its queue closes its runs: the lent Chromium stays up for the next service
    second = start_service(box, tmp_path / "two")
    with second.client() as http:
        assert http.post("/v1/sync").status_code == 200
        assert http.get("/readyz").json()["status"] == "ready"
    assert service_loop.reuse.opened == 1  # no second launch: the first left it running
    assert box.state()["list_reads"] >= 2 and all_writes(box) == []
