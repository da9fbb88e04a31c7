# SPDX-License-Identifier: MIT
"""End-to-end test on real Xen (docs/xen-e2e.md).

Builds a guest image from tests/xen/guest.toml with `xenguest-mkimage
build`, boots Debian's Xen and a Dom0 in QEMU (tests/xen/run-dom0), and in
Dom0 has `xenguest-manager` create, start, stop and remove the guest, once
on LVM (a volume group on a virtio disk) and once on a file-backed disk
(tests/xen/dom0-e2e.sh). The assertions here read the evidence Dom0 wrote
to the share: the guest's console, the init scripts' log and what was left
after remove.

One boot serves every test of this module. It never skips: without QEMU,
Xen, the kernel or the binaries, every test fails saying what is missing.

Binaries: XENGUEST_MKIMAGE and XENGUEST_MANAGER, default
target/release/xenguest-mkimage and target/release/xenguest-manager.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES = ("lvm", "file")
GUEST_TOKEN = "params-visible"  # tests/xen/guest.toml [params] E2E_TOKEN
# Hard limits (seconds): the Dom0 script; run-dom0 adds 60 s for Dom0 and
# 60 s more for QEMU; this process waits 60 s beyond that.
SCRIPT_TIMEOUT = int(os.environ.get("XEN_E2E_SCRIPT_TIMEOUT", "420"))
RUN_TIMEOUT = SCRIPT_TIMEOUT + 180


def binary(env: str, name: str) -> Path:
    path = Path(os.environ.get(env) or ROOT / "target" / "release" / name).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{env}: `{path}` is not an executable; run `cargo build --release --locked` first"
        )
    return path


def tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as err:
        return f"({path}: {err})"
    return "\n".join(text[-lines:])


class Run:
    """What one boot left in the share."""

    def __init__(self, share: Path, token: str, proc: subprocess.CompletedProcess[str]):
        self.share = share
        self.token = token
        self.proc = proc

    def read(self, case: str, name: str) -> str:
        path = self.share / "results" / case / name
        return path.read_text(errors="replace") if path.exists() else ""

    def evidence(self, case: str) -> str:
        """Everything useful to read when an assertion on CASE fails."""
        parts = [f"run-dom0 exit status {self.proc.returncode}\n{self.proc.stderr}"]
        for name in (
            "steps.log",
            "console.log",
            "init-scripts.log",
            "after-stop.txt",
            "after-remove.txt",
        ):
            parts.append(f"--- results/{case}/{name}:\n{self.read(case, name)}")
        parts.append(f"--- Dom0 script output:\n{tail(self.share / 'script.log')}")
        parts.append(f"--- serial console (end):\n{tail(self.share / 'serial.log', 40)}")
        return "\n".join(parts)

    def sections(self, case: str) -> dict[str, str]:
        """after-remove.txt split at its `## TITLE` lines."""
        out: dict[str, list[str]] = {}
        current = None
        for line in self.read(case, "after-remove.txt").splitlines():
            if line.startswith("## "):
                current = line[3:]
                out[current] = []
            elif current is not None:
                out[current].append(line)
        return {k: "\n".join(v).strip() for k, v in out.items()}

    def step_status(self, case: str, action: str) -> int | None:
        """Exit status of the first `MANAGER ACTION ...` step of CASE."""
        lines = self.read(case, "steps.log").splitlines()
        for i, line in enumerate(lines):
            words = line.split()
            if line.startswith("+ ") and len(words) > 2 and words[2] == action:
                for later in lines[i + 1 :]:
                    if later.startswith("= exit "):  # "= exit N (Ts)"
                        return int(later.split()[2])
        return None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    mkimage = binary("XENGUEST_MKIMAGE", "xenguest-mkimage")
    manager = binary("XENGUEST_MANAGER", "xenguest-manager")
    work = tmp_path_factory.mktemp("xen-e2e")
    inputs, share = work / "inputs", work / "share"
    inputs.mkdir()
    share.mkdir()

    # The rootfs partition's content: a marker unique to this run, so the
    # guest can only print it by reading this image's partition.
    token = f"e2e-marker-{uuid.uuid4().hex}"
    marker = inputs / "marker.txt"
    marker.write_text(token + "\n")
    with tarfile.open(inputs / "rootfs.tar.gz", "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(marker, arcname="./marker.txt")

    kver = subprocess.run(
        [HERE / "mkinitramfs", "--kernel-version"], capture_output=True, text=True
    )
    if kver.returncode != 0:
        pytest.fail(f"no packaged guest kernel: {kver.stderr.strip()}")
    kernel = f"/boot/vmlinuz-{kver.stdout.strip()}"
    subprocess.run(
        [
            HERE / "mkinitramfs",
            inputs / "guest-ramdisk.cpio.gz",
            HERE / "guest" / "ramdisk-init",
            "xen-blkfront",
            "ext4",
        ],
        check=True,
    )
    image = share / "guest.xenguest"
    subprocess.run(
        [
            mkimage,
            "build",
            HERE / "guest.toml",
            "-o",
            image,
            "--define",
            f"KERNEL={kernel}",
            "--define",
            f"E2E={inputs}",
        ],
        check=True,
    )
    (share / "e2e.env").write_text(
        f"XENGUEST_MKIMAGE={mkimage}\nXENGUEST_MANAGER={manager}\n"
    )

    proc = subprocess.run(
        [
            HERE / "run-dom0",
            "--disk",
            "512M",
            "--script-timeout",
            str(SCRIPT_TIMEOUT),
            HERE / "dom0-e2e.sh",
            share,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    result = Run(share, token, proc)
    if proc.returncode != 0:
        pytest.fail(
            "booting Xen and Dom0 or running the Dom0 script failed:\n"
            + result.evidence(CASES[0])
        )
    return result


def test_dom0_runs_xen_4_17(run: Run) -> None:
    info = (run.share / "xl-info.txt").read_text()
    assert re.search(r"^xen_version\s*:\s*4\.17", info, re.M), info


@pytest.mark.parametrize("case", CASES)
def test_create_and_start_succeed(run: Run, case: str) -> None:
    for action in ("create", "start"):
        assert run.step_status(case, action) == 0, f"{action} failed\n" + run.evidence(case)


@pytest.mark.parametrize("case", CASES)
def test_guest_reads_its_rootfs_partition(run: Run, case: str) -> None:
    console = run.read(case, "console.log")
    assert "E2E-GUEST: ramdisk running" in console, run.evidence(case)
    assert f"E2E-GUEST: marker: {run.token}" in console, run.evidence(case)


@pytest.mark.parametrize("case", CASES)
def test_stop_shuts_the_guest_down_cleanly(run: Run, case: str) -> None:
    assert run.step_status(case, "stop") == 0, run.evidence(case)
    # busybox init's shutdown action: Xen asked, the guest powered off.
    assert "E2E-GUEST: clean shutdown" in run.read(case, "console.log"), run.evidence(case)
    # stop waits until the domain is gone, so remove right after cannot race
    # xl's own destroy of the powered-off domain.
    assert run.read(case, "after-stop.txt").strip() == "after stop: domain gone", run.evidence(
        case
    )


@pytest.mark.parametrize("case", CASES)
def test_guest_sees_its_partitions(run: Run, case: str) -> None:
    # /proc/partitions: major minor #blocks(KiB) name
    blocks = {}
    for line in run.read(case, "console.log").splitlines():
        m = re.match(r"E2E-GUEST-PART:\s+\d+\s+\d+\s+(\d+)\s+(\S+)", line)
        if m:
            blocks[m.group(2)] = int(m.group(1))
    assert {"xvda", "xvda1", "xvda2"} <= blocks.keys(), run.evidence(case)
    # guest.toml: partition 1 is 60 MB, partition 2 20 MB (parted's MB, 10^6).
    assert abs(blocks["xvda1"] - 60_000_000 / 1024) < 1024, blocks
    assert abs(blocks["xvda2"] - 20_000_000 / 1024) < 1024, blocks
    assert blocks["xvda"] * 1024 >= 100_000_000, blocks


@pytest.mark.parametrize("case", CASES)
def test_init_scripts_ran_in_order_with_params(run: Run, case: str) -> None:
    lines = run.read(case, "init-scripts.log").splitlines()
    name = f"e2e-{case}"
    assert lines == [
        f"init.pre {name} {GUEST_TOKEN}",
        f"init.d {name} {GUEST_TOKEN}",
        f"init.post {name} {GUEST_TOKEN}",
    ], run.evidence(case)


@pytest.mark.parametrize("case", CASES)
def test_stop_and_remove_leave_nothing(run: Run, case: str) -> None:
    name = f"e2e-{case}"
    assert run.step_status(case, "remove") == 0, run.evidence(case)
    left = run.sections(case)
    assert left, "no after-remove.txt\n" + run.evidence(case)
    assert name not in left["xl list"], run.evidence(case)
    assert name not in left["lvs"], run.evidence(case)
    assert name.replace("-", "--") not in left["dmsetup ls"], run.evidence(case)
    assert left["losetup -a"] == "", run.evidence(case)
    assert "No such file or directory" in left["guest directory"], run.evidence(case)
    assert left["disk files"] == "", run.evidence(case)
    assert name not in left["manager list"].split(), run.evidence(case)


def test_tools_on_path() -> None:
    """The harness needs these; a missing one fails here by name."""
    missing = [
        t
        for t in ("qemu-system-x86_64", "xl", "cpio", "modprobe", "lvm", "parted", "mkfs.ext4")
        if shutil.which(t) is None
    ]
    assert not missing, f"not installed: {missing} (scripts/test installs them)"
