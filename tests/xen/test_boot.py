# SPDX-License-Identifier: MIT
"""Guests start at boot under a real init (docs/xen-e2e.md, "Boot").

Dom0 boots twice: with systemd as PID 1 (tests/xen/dom0-systemd-init) and
with busybox init running the sysvinit links (tests/xen/dom0-sysvinit-init),
each time after the Debian package that `cargo deb` builds from this
checkout was installed into it with dpkg. Its configuration points
XENGUEST_GUEST_DIR at two images of tests/xen/guest.toml, `boot-auto`
(GUEST_AUTOBOOT="1") and `boot-manual` (GUEST_AUTOBOOT="0": created, not
started); nothing but the
package's unit or init script acts on them. tests/xen/dom0-boot-check.sh
records the state once they have run and powers Dom0 off through the init;
the guest consoles, kept on the share, show whether that shutdown stopped
the running guest cleanly.

Never skips: a missing tool, cargo-deb or binary fails the tests by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from test_xen import HERE, ROOT, binary, tail

SCRIPT_TIMEOUT = 420
RUN_TIMEOUT = SCRIPT_TIMEOUT + 180


class Boot:
    def __init__(self, share: Path, token: str, proc: subprocess.CompletedProcess[str], init: str):
        self.init = init
        self.share = share
        self.token = token
        self.proc = proc

    def read(self, rel: str) -> str:
        path = self.share / rel
        return path.read_text(errors="replace") if path.exists() else ""

    def console(self, name: str) -> str:
        return self.read(f"logs/xen/console/guest-{name}.log")

    def evidence(self) -> str:
        parts = [f"run-dom0 exit status {self.proc.returncode}\n{self.proc.stderr}"]
        for rel in ("results/boot/pid1.txt", "results/boot/unit.txt", "results/boot/unit-journal.txt",
                    "results/boot/rc-links.txt",
                    "results/boot/xl-list.txt", "results/boot/manager-list.txt",
                    "results/boot/manager.log", "script.log", "dpkg.log",
                    "logs/xen/console/guest-boot-auto.log"):
            parts.append(f"--- {rel}:\n{self.read(rel)}")
        parts.append(f"--- serial console (end):\n{tail(self.share / 'serial.log', 80)}")
        return "\n".join(parts)


def build_deb(out: Path) -> Path:
    if shutil.which("cargo-deb") is None:
        pytest.fail("cargo-deb is not installed (cargo install cargo-deb --locked; scripts/test does)")
    subprocess.run(["sh", ROOT / "dist" / "debian" / "stage"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "deb", "--no-build", "--output", out], cwd=ROOT, check=True,
                   capture_output=True)
    return out


INITS = {"systemd": "dom0-systemd-init", "sysvinit": "dom0-sysvinit-init"}


@pytest.fixture(scope="module", params=sorted(INITS))
def boot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Boot:
    init = request.param
    mkimage = binary("XENGUEST_MKIMAGE", "xenguest-mkimage")
    # The package holds target/release's binaries (dist/debian/stage).
    binary("XENGUEST_MANAGER", "xenguest-manager")
    work = tmp_path_factory.mktemp(f"xen-boot-{init}")
    inputs, share = work / "inputs", work / "share"
    inputs.mkdir()
    share.mkdir()
    (share / "guests").mkdir()
    build_deb(share / "xenguest.deb")

    token = f"e2e-marker-{uuid.uuid4().hex}"
    marker = inputs / "marker.txt"
    marker.write_text(token + "\n")
    with tarfile.open(inputs / "rootfs.tar.gz", "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(marker, arcname="./marker.txt")
    kver = subprocess.run([HERE / "mkinitramfs", "--kernel-version"], capture_output=True, text=True)
    if kver.returncode != 0:
        pytest.fail(f"no packaged guest kernel: {kver.stderr.strip()}")
    kernel = f"/boot/vmlinuz-{kver.stdout.strip()}"
    subprocess.run([HERE / "mkinitramfs", inputs / "guest-ramdisk.cpio.gz",
                    HERE / "guest" / "ramdisk-init", "xen-blkfront", "ext4"], check=True)
    for name, autoboot in (("boot-auto", "true"), ("boot-manual", "false")):
        subprocess.run([mkimage, "build", HERE / "guest.toml", "-o", share / "guests" / f"{name}.xenguest",
                        "--define", f"KERNEL={kernel}", "--define", f"E2E={inputs}",
                        "--set", f"guest.autoboot={autoboot}"], check=True)

    proc = subprocess.run(
        [HERE / "run-dom0", "--init", HERE / INITS[init], "--script-timeout",
         str(SCRIPT_TIMEOUT), HERE / "dom0-boot-check.sh", share],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    result = Boot(share, token, proc, init)
    if proc.returncode != 0:
        pytest.fail(f"booting Dom0 with {init} failed:\n" + result.evidence())
    return result


def test_the_init_ran_the_packages_boot_file(boot: Boot) -> None:
    pid1 = boot.read("results/boot/pid1.txt").split()
    if boot.init == "systemd":
        assert pid1[:1] == ["/lib/systemd/systemd"], boot.evidence()
        unit = dict(line.split("=", 1) for line in boot.read("results/boot/unit.txt").split())
        assert unit.get("UnitFileState") == "enabled", boot.evidence()
        assert unit.get("ActiveState") == "active" and unit.get("Result") == "success", boot.evidence()
    else:
        assert pid1[:2] == ["/bin/busybox", "init"], boot.evidence()
        # The package's postinst linked its init script (update-rc.d), and
        # those links are what ran.
        links = boot.read("results/boot/rc-links.txt").split()
        assert any(l.startswith("/etc/rc2.d/S") for l in links), boot.evidence()
        assert any(l.startswith("/etc/rc0.d/K") for l in links), boot.evidence()
        assert "Starting Xen guests (xenguest-manager)" in boot.read("serial.log"), boot.evidence()


def test_autoboot_guest_runs_after_boot(boot: Boot) -> None:
    listed = boot.read("results/boot/xl-list.txt").split()
    assert "boot-auto" in listed, boot.evidence()
    assert f"E2E-GUEST: marker: {boot.token}" in boot.console("boot-auto"), boot.evidence()
    status = boot.read("results/boot/manager-list.txt")
    assert "boot-auto Running" in status, boot.evidence()


def test_guest_with_autoboot_0_is_created_but_not_started(boot: Boot) -> None:
    assert "boot-manual" not in boot.read("results/boot/xl-list.txt").split(), boot.evidence()
    # Created at boot, ready for `start boot-manual`.
    assert "boot-manual Stopped" in boot.read("results/boot/manager-list.txt"), boot.evidence()
    assert "boot-manual Running" not in boot.read("results/boot/manager-list.txt"), boot.evidence()
    assert boot.console("boot-manual") == "", boot.evidence()


def test_dom0_shutdown_stops_the_guest_cleanly(boot: Boot) -> None:
    # systemd's shutdown stopped the unit (boot-stop), which shut the guest
    # down through Xen: the guest's own init ran its shutdown action.
    assert "E2E-GUEST: clean shutdown" in boot.console("boot-auto"), boot.evidence()
