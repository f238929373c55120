"""The README's walk-through runs as written against `returns-ledger serve` (what `make run`
starts): the answers are the ones it shows, and the in-process hold-expiry timer, running
every second here, leaves the walk-through's held parcel alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.operations.support import CLI, Process
from tests.reliability.proxy import free_port

ROOT = Path(__file__).resolve().parents[2]
ANSWER = re.compile(r'"position":(\d+),"status":"(\w+)"')


def walkthrough(readme: str) -> str:
    """The README's first shell block that registers a parcel over HTTP."""
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.S):
        if "keys create --role admin" in block and "/v1/parcels" in block:
            return block
    raise AssertionError("no walk-through in the README")


def _get(url: str, key: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_readme_walkthrough_runs_as_written_and_the_timer_leaves_its_parcel(tmp_path):
    port = free_port()
    env = {**os.environ, "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "HOLD_EXPIRY_INTERVAL": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("PERSISTENCE_MODULE", None)
    subprocess.run([CLI, "db", "init"], env=env, check=True, cwd=ROOT, capture_output=True)
    server = Process([CLI, "serve", "--port", str(port)], env, cwd=ROOT)
    try:
        server.expect(f"returns-ledger serves http://127.0.0.1:{port}")
        server.expect("keys create --role admin")
        server.expect("Booting worker")
        block = walkthrough((ROOT / "README.md").read_text())
        script = (block.replace(".venv/bin/", f"{Path(CLI).parent}/")
                  .replace("localhost:8000", f"localhost:{port}"))
        script += '\necho "KEY=$KEY"\n'
        for _ in range(100):  # the workers answer
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        out = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        shown = ANSWER.findall("\n".join(line for line in block.splitlines()
                                         if line.lstrip().startswith("#")))
        assert len(shown) >= 3
        assert ANSWER.findall(out.stdout) == shown, out.stdout
        assert "would destroy cd49e82c-b5ba-527a-9929-19fb30ad7df9" in out.stdout
        key = out.stdout.rsplit("KEY=", 1)[1].strip()
        parcel = re.search(r"^PARCEL=(\S+)", block, flags=re.M).group(1)
        time.sleep(3)  # three runs of the in-process hold-expiry timer
        state = _get(f"http://127.0.0.1:{port}/v1/parcels/{parcel}", key)
        assert state["status"] == "held_at_warehouse", state
    finally:
        server.stop()


@pytest.mark.parametrize("target", ["run", "demo"])
def test_makefile_targets_take_host_and_port(target):
    out = subprocess.run(["make", "-n", target, "HOST=0.0.0.0", "PORT=8123"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "--host 0.0.0.0 --port 8123" in out


def test_readme_auditor_walkthrough_counts_are_what_a_fresh_demo_store_shows(tmp_path):
    """The auditor section's counts (the checkpoint's size, the map's entries, the size
    after the demo ran again, the parcel's events) are those of a fresh store where
    `returns-ledger demo` ran, as it says."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
                 if "audit public-key" in b and "demo | grep" in b)
    size = int(re.search(r"^# (\d+)$", block, flags=re.M).group(1))
    entries = int(re.search(r"^# map (\d+) ", block, flags=re.M).group(1))
    later, kept = map(int, re.search(r"checkpoint of (\d+) events only appended to the one "
                                     r"of (\d+) you kept", block).groups())
    env = {**os.environ, "SQLITE_DBNAME": str(tmp_path / "audit.sqlite3"),
           "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "audit-signing.key"),
           "PERSONAL_DATA_KEY_FILE": str(tmp_path / "personal-data.key")}
    env.pop("PERSISTENCE_MODULE", None)

    def cli(*args: str) -> str:
        done = subprocess.run([CLI, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("db", "init")
    shown = cli("demo")
    tiktok = re.search(r"^== tiktok_shop: parcel (\S+) is closed", shown, flags=re.M).group(1)
    first = json.loads(cli("audit", "checkpoint", "--json"))
    assert (first["tree_size"], kept) == (size, size)
    assert f"\nmap {entries} " in first["note"]
    assert f"{tiktok}, 9 events verified" in cli("audit", "verify", tiktok)
    assert "LZ-ORDER-OK-" in shown  # where the reader finds the seller names' suffix
    cli("demo")
    assert json.loads(cli("audit", "checkpoint", "--json"))["tree_size"] == later
