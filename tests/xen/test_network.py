"""Guest networking on real Xen (docs/manager.md, "Guest network").

Boots Xen and a Dom0 in QEMU (tests/xen/run-dom0) whose uplink leads into
a network namespace playing the outside world (its own DHCP server and a
TCP service), and has `xenguest-manager` create and start three guests
from tests/xen/net-guest.toml, one per XENGUEST_NETWORK_TYPE
(tests/xen/dom0-network.sh). The assertions read what Dom0 and the
guests' consoles wrote to the share. All traffic stays inside Dom0.

One boot serves every test of this module. It never skips.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT_TIMEOUT = int(os.environ.get("XEN_E2E_NET_SCRIPT_TIMEOUT", "420"))
RUN_TIMEOUT = SCRIPT_TIMEOUT + 180
TYPES = ("bridge", "nat", "none")


def binary(env: str, name: str) -> Path:
    path = Path(os.environ.get(env) or ROOT / "target" / "release" / name).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{env}: `{path}` is not an executable; run `cargo build --release --locked` first")
    return path


class Run:
    def __init__(self, share: Path, token: str, proc: subprocess.CompletedProcess[str]):
        self.share, self.token, self.proc = share, token, proc

    def read(self, name: str) -> str:
        path = self.share / "results" / "net" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def evidence(self) -> str:
        parts = [f"run-dom0 exit status {self.proc.returncode}\n{self.proc.stderr[-3000:]}"]
        for name in ["steps.log", "running.txt", "forward.txt", "none-vifs.txt", "after-stop.txt",
                     "after-remove.txt", "console-bridge.log", "console-nat.log", "manager.log"]:
            parts.append(f"--- {name}:\n{self.read(name)}")
        script = self.share / "script.log"
        parts.append(f"--- Dom0 script output:\n{script.read_text(errors='replace')[-3000:] if script.exists() else ''}")
        return "\n".join(parts)

    def section(self, name: str, title: str) -> str:
        """The lines under `## TITLE` in NAME, up to the next `## ` line."""
        out: list[str] | None = None
        for line in self.read(name).splitlines():
            if line.startswith("## "):
                if out is not None:
                    break
                if line == f"## {title}":
                    out = []
            elif out is not None:
                out.append(line)
        return "(no section)" if out is None else "\n".join(out).strip()

    def console(self, kind: str) -> list[str]:
        return [l.strip() for l in self.read(f"console-{kind}.log").splitlines() if "E2E-NET" in l]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    mkimage = binary("XENGUEST_MKIMAGE", "xenguest-mkimage")
    manager = binary("XENGUEST_MANAGER", "xenguest-manager")
    work = tmp_path_factory.mktemp("xen-net")
    inputs, share = work / "inputs", work / "share"
    inputs.mkdir()
    share.mkdir()
    kver = subprocess.run([HERE / "mkinitramfs", "--kernel-version"], capture_output=True, text=True)
    if kver.returncode != 0:
        pytest.fail(f"no packaged guest kernel: {kver.stderr.strip()}")
    kernel = f"/boot/vmlinuz-{kver.stdout.strip()}"
    subprocess.run(
        [HERE / "mkinitramfs", inputs / "net-ramdisk.cpio.gz", HERE / "guest" / "net-ramdisk-init", "xen-netfront"],
        check=True,
    )
    for kind in TYPES:
        extra = ["--set", "guest.port_forwards=2222:22"] if kind == "nat" else []
        subprocess.run(
            [mkimage, "build", HERE / "net-guest.toml", "-o", share / f"{kind}.xenguest",
             "--define", f"KERNEL={kernel}", "--define", f"E2E={inputs}",
             "--set", f"params.XENGUEST_NETWORK_TYPE={kind}", *extra],
            check=True,
        )
    token = f"e2e-outside-{uuid.uuid4().hex}"
    (share / "e2e.env").write_text(f"XENGUEST_MANAGER={manager}\nE2E_TOKEN={token}\n")
    proc = subprocess.run(
        [HERE / "run-dom0", "--script-timeout", str(SCRIPT_TIMEOUT), HERE / "dom0-network.sh", share],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    result = Run(share, token, proc)
    if proc.returncode != 0:
        pytest.fail("booting Xen and Dom0 or running the Dom0 script failed:\n" + result.evidence())
    return result


def test_every_step_succeeds(run: Run) -> None:
    failed = [l for l in run.read("steps.log").splitlines() if l.startswith("= exit ") and not l.startswith("= exit 0 ")]
    assert not failed and "+ " in run.read("steps.log"), run.evidence()


def test_a_bridge_guest_gets_the_outside_address_and_reaches_the_service(run: Run) -> None:
    lines = run.console("bridge")
    assert any(l.startswith("E2E-NET: lease 192.0.2.") and "router 192.0.2.1" in l for l in lines), run.evidence()
    assert f"E2E-NET: outside says: {run.token}" in lines, run.evidence()


def test_a_nat_guest_gets_dom0_s_address_and_reaches_the_outside_through_nat(run: Run) -> None:
    lines = run.console("nat")
    assert "E2E-NET: lease 10.201.0.2/30 router 10.201.0.1" in lines, run.evidence()
    assert f"E2E-NET: outside says: {run.token}" in lines, run.evidence()


def test_a_connection_to_dom0_s_forwarded_port_reaches_the_nat_guest(run: Run) -> None:
    assert "E2E-NET-GUEST-SERVICE" in run.read("forward.txt"), run.evidence()


def test_a_none_guest_has_no_interface(run: Run) -> None:
    lines = run.read("none-vifs.txt").splitlines()
    # `xl network-list`: its header, no device, success.
    assert lines[:1] and lines[0].startswith("Idx") and lines[1:] == ["exit 0"], run.evidence()


def test_the_nat_guest_s_network_existed_while_it_ran(run: Run) -> None:
    running = run.read("running.txt")
    assert "table ip xenguest_nat0" in running and "xgnat0" in running, run.evidence()


def test_nothing_of_the_guests_is_left_after_stop_and_remove(run: Run) -> None:
    for name in ("after-stop.txt", "after-remove.txt"):
        for title in ("links", "ruleset", "processes"):
            assert run.section(name, title) == "", f"{name} {title}\n" + run.evidence()
    assert run.section("after-stop.txt", "addresses") == "", run.evidence()
    assert run.section("after-stop.txt", "run") == "", run.evidence()
    assert run.section("after-remove.txt", "guests") == "", run.evidence()
