"""The zero-setup service keeps its data: the real gunicorn on a data directory, killed and restarted.

The service is started as ./scripts/run starts it (gunicorn.conf.py, the app factory, one worker on
the emulator) on a free port, with its own DATA_DIR and no demo county. Data is made through the API
as an admin the command line created, and must come back after the worker is SIGKILLed, after the
whole service is stopped and started, and after the journal loses a record cut short.
"""

from __future__ import annotations

import itertools
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from stdnum.cn import uscc

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "durable-pass-2020"
START_TIMEOUT_SECONDS = 60
_numbers = itertools.count(1)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"MONGO_URI", "TEST_MONGO_URI"}}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DEMO_ON_START": "false",
            "SECRET_KEY": "durable-test-secret",
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own entry point
        [str(BIN / "flask"), "--app", "service", *args],
        cwd=ROOT,
        env=_env(data_dir),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


_CREATE_USER = ("users", "create", "--role", "admin", "--password", "-", "--username")


def _create_admin(data_dir: Path) -> None:
    done = _cli(data_dir, *_CREATE_USER, "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr


class Service:
    """gunicorn -c gunicorn.conf.py 'service:create_app()' on DATA_DIR, its output collected."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> Service:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "service:create_app()"],
            cwd=ROOT,
            env=_env(self.data_dir, PORT=str(self.port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a test can kill master and worker at once
        )
        # A pipe, not a file: the output is never subject to the file size limit a test sets.
        threading.Thread(target=self._collect, args=(self.process.stdout,), daemon=True).start()
        if wait:
            self.wait_ready()
        return self

    def _collect(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, *, other_than: int | None = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited ({self.process.returncode}):\n{self.output[-3000:]}")
            workers = _children(self.process.pid)
            if workers and other_than not in workers:
                try:
                    if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"the service was not ready in {START_TIMEOUT_SECONDS} s:\n{self.output[-3000:]}")

    def worker(self) -> int:
        (worker,) = _children(self.process.pid)
        return worker

    def kill_worker(self) -> None:
        worker = self.worker()
        os.kill(worker, signal.SIGKILL)
        self.wait_ready(other_than=worker)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL the master and its worker together, as a power cut would stop them."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _children(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def wait_exit(self) -> int:
        return self.process.wait(timeout=START_TIMEOUT_SECONDS)

    def login(self) -> requests.Session:
        session = requests.Session()
        response = session.post(
            self.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        session.headers["Authorization"] = f"Bearer {response.json()['token']}"
        return session


@pytest.fixture
def data_dir(tmp_path) -> Path:
    directory = tmp_path / "data"
    _create_admin(directory)
    return directory


@pytest.fixture
def service(data_dir) -> Iterator[Service]:
    running = Service(data_dir)
    yield running
    if running.process is not None and running.process.poll() is None:
        running.kill()


def _operator_body() -> dict:
    body = f"93340722{next(_numbers):09d}"
    return {
        "name": f"枞阳县持久合作社{body[-4:]}",
        "uscc": body + uscc.calc_check_digit(body),
        "kind": "cooperative",
        "county_code": "340722",
    }


def _create_operator(session: requests.Session, url: str) -> dict:
    response = session.post(url + "/api/v1/operators", json=_operator_body())
    assert response.status_code == 201, response.text
    return response.json()


def _create_account(session: requests.Session, url: str) -> dict:
    username = f"staff{next(_numbers)}"
    response = session.post(
        url + "/api/v1/users",
        json={"username": username, "password": PASSWORD, "role": "county_staff", "county_codes": ["340722"]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _exists(session: requests.Session, url: str, path: str) -> bool:
    response = session.get(url + path)
    assert response.status_code in {200, 404}, response.text
    return response.status_code == 200


def _journal(data_dir: Path) -> Path:
    (journal,) = sorted(data_dir.glob("journal-*.bson"))
    return journal


def test_accounts_and_records_survive_a_killed_worker_and_a_stop_and_start(service):
    service.start()
    admin = service.login()
    account = _create_account(admin, service.url)
    operator = _create_operator(admin, service.url)

    service.kill_worker()

    # The same token still works: the session, too, was kept.
    assert _exists(admin, service.url, f"/api/v1/users/{account['id']}")
    assert _exists(admin, service.url, f"/api/v1/operators/{operator['id']}")
    later = _create_operator(admin, service.url)

    service.stop()
    assert (service.data_dir / "snapshot.bson").exists()  # written at the clean stop
    service.start()

    admin = service.login()
    for path in (f"/api/v1/users/{account['id']}", f"/api/v1/operators/{operator['id']}"):
        assert _exists(admin, service.url, path)
    assert _exists(admin, service.url, f"/api/v1/operators/{later['id']}")
    assert f"data kept in {service.data_dir}" in service.output


def test_a_command_line_task_is_refused_while_the_service_holds_the_directory(service):
    service.start()

    refused = _cli(service.data_dir, *_CREATE_USER, "late", stdin=PASSWORD + "\n")

    assert refused.returncode != 0
    assert (
        f"DATA_DIR {service.data_dir} is in use by another process (pid {service.worker()})" in refused.stderr
    )


def test_a_journal_cut_mid_record_loses_only_the_change_cut_short_and_says_so(service):
    service.start()
    admin = service.login()
    kept = _create_operator(admin, service.url)
    journal = _journal(service.data_dir)
    end_of_kept = journal.stat().st_size
    cut = _create_operator(admin, service.url)
    service.kill()
    # A power cut 20 bytes into the first record written after the first operator.
    os.truncate(journal, end_of_kept + 20)

    service.start()

    admin = service.login()
    assert _exists(admin, service.url, f"/api/v1/operators/{kept['id']}")
    assert not _exists(admin, service.url, f"/api/v1/operators/{cut['id']}")
    assert f"dropped 20 bytes at offset {end_of_kept}" in service.output


def test_a_journal_damaged_before_its_end_is_refused_not_started_over(service):
    service.start()
    admin = service.login()
    _create_operator(admin, service.url)
    _create_operator(admin, service.url)
    service.kill()
    journal = _journal(service.data_dir)
    data = bytearray(journal.read_bytes())
    data[len(data) // 2] ^= 0xFF
    journal.write_bytes(bytes(data))

    service.start(wait=False)

    assert service.wait_exit() != 0
    assert f"The journal {journal} is damaged at byte" in service.output
    assert journal.read_bytes() == bytes(data)  # nothing rewritten, nothing started afresh


def test_a_foreign_directory_is_refused_not_started_over(tmp_path):
    foreign = tmp_path / "reports"
    foreign.mkdir()
    (foreign / "2024.xlsx").write_bytes(b"PK")
    service = Service(foreign)

    service.start(wait=False)

    assert service.wait_exit() != 0
    assert f"DATA_DIR {foreign} is not empty and is not this service's data directory" in service.output
    assert [path.name for path in foreign.iterdir()] == ["2024.xlsx"]


def test_a_failed_journal_write_answers_503_and_a_fresh_worker_reloads_from_disk(service):
    service.start()
    admin = service.login()
    kept = _create_operator(admin, service.url)
    worker = service.worker()
    # The worker may not write past the journal's current end: its next record fails (EFBIG).
    limit = _journal(service.data_dir).stat().st_size
    resource.prlimit(worker, resource.RLIMIT_FSIZE, (limit, limit))

    response = admin.post(service.url + "/api/v1/operators", json=_operator_body())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_write_failed"
    service.wait_ready(other_than=worker)
    assert _exists(admin, service.url, f"/api/v1/operators/{kept['id']}")
    assert len(admin.get(service.url + "/api/v1/operators").json()["items"]) == 1
    assert "Could not write the journal" in service.output
    _create_operator(admin, service.url)  # the fresh worker writes again


def _jd_export(rows: int) -> bytes:
    header = "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,应付金额,订单状态,商家SKU,订单备注"
    lines = [
        f"{900000000000 + n},{100012043978 + n % 7},枞阳有机大米 5kg,1,在线支付,"
        f"2024-03-{n % 28 + 1:02d} 14:22:01,59.90,59.90,完成,ZY-DURABLE-{n % 7},"
        for n in range(rows)
    ]  # fmt: skip
    return ("\n".join([header, *lines]) + "\n").encode("utf-8-sig")


def _upload(session: requests.Session, url: str, data: bytes) -> requests.Response:
    return session.post(
        url + "/api/v1/imports",
        data={"channel": "jd", "county_code": "340722"},
        files={"file": ("jd-orders.csv", data, "text/csv")},
        timeout=300,
    )


def test_an_import_cut_off_by_a_killed_worker_reads_as_interrupted_and_imports_again_once(service):
    service.start()
    admin = service.login()
    rows = 40_000
    export = _jd_export(rows)
    outcome: list = []
    uploading = threading.Thread(
        target=lambda: outcome.append(_safely(lambda: _upload(admin, service.url, export))), daemon=True
    )
    uploading.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = admin.get(service.url + "/api/v1/imports", timeout=30).json()["items"]
        if runs and runs[0]["status"] == "running":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the import never showed as running: {outcome}\n{service.output[-3000:]}")

    service.kill_worker()
    uploading.join(timeout=60)

    (run,) = admin.get(service.url + "/api/v1/imports").json()["items"]
    assert run["status"] == "interrupted"
    assert "Import the same file again" in run["error"]
    again = _upload(admin, service.url, export)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "succeeded"
    assert again.json()["inserted"] + again.json()["unchanged"] == rows
    stored = admin.get(service.url + "/api/v1/reports/summary?from=2024-03&to=2024-03&county_code=340722")
    assert stored.status_code == 200, stored.text
    assert stored.json()["sales_fen"] == rows * 59_90


def _safely(call):
    try:
        return call()
    except requests.RequestException as error:  # the worker died mid-request
        return error
