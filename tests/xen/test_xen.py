# SPDX-License-Identifier: MIT
"""End-to-end test on real Xen (docs/xen-e2e.md).

Builds a guest image from tests/xen/guest.toml with `xenguest-mkimage
build`, boots Debian's Xen and a Dom0 in QEMU (tests/xen/run-dom0), and in
Dom0 has `xenguest-manager` create, start, stop and remove the guest, once
on LVM (a volume group on a virtio disk) and once on a file-backed disk
(tests/xen/dom0-e2e.sh). The assertions here read the evidence Dom0 wrote
to the share: the guest's console, the init scripts' log and what was left
after remove.

The same boot then updates a guest (case `update`, docs/xen-e2e.md "Guest
updates"): four versions built from tests/xen/update-guest.toml, a kept
data partition, health reported by the guest through xenstore, a failed
update rolled back and a killed one resolved by `boot-start`.

One boot serves every test of this module. It never skips: without QEMU,
Xen, the kernel or the binaries, every test fails saying what is missing.

Binaries: XENGUEST_MKIMAGE and XENGUEST_MANAGER, default
target/release/xenguest-mkimage and target/release/xenguest-manager.
"""

from __future__ import annotations

import hashlib
import json
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
SCRIPT_TIMEOUT = int(os.environ.get("XEN_E2E_SCRIPT_TIMEOUT", "720"))
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
        self.update: Update | None = None

    def read(self, case: str, name: str) -> str:
        path = self.share / "results" / case / name
        return path.read_text(errors="replace") if path.exists() else ""

    def evidence(self, case: str) -> str:
        """Everything useful to read when an assertion on CASE fails."""
        parts = [f"run-dom0 exit status {self.proc.returncode}\n{self.proc.stderr}"]
        names = ["steps.log", "console.log", "init-scripts.log", "after-stop.txt"]
        if case == "update":
            if self.update is not None and self.update.problem:
                parts.append(f"--- the update case did not run: {self.update.problem}")
            names = ["steps.log", "v4-killed.txt", "dmesg.txt"]
            for phase in UPDATE_PHASES:
                names += [f"console-{phase}.log", f"history-{phase}.json"]
                names += [f"health-{phase}.txt", f"domains-{phase}.txt"]
        for name in names + ["after-remove.txt"]:
            parts.append(f"--- results/{case}/{name}:\n{self.read(case, name)}")
        if case == "update":
            log = self.share / "results" / case / "manager.log"
            parts.append(f"--- results/{case}/manager.log (end):\n{tail(log, 120)}")
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

    def step_status(self, case: str, action: str, nth: int = 0) -> int | None:
        """Exit status of the NTH (from 0) `MANAGER ACTION ...` step of CASE."""
        lines = self.read(case, "steps.log").splitlines()
        for i, line in enumerate(lines):
            words = line.split()
            if line.startswith("+ ") and len(words) > 2 and words[2] == action:
                if nth > 0:
                    nth -= 1
                    continue
                for later in lines[i + 1 :]:
                    if later.startswith("= exit "):  # "= exit N (Ts)"
                        return int(later.split()[2])
                    if later.startswith("+ "):
                        return None
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
    update = build_update_images(mkimage, manager, kernel, inputs, share)

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
    result.update = update
    if proc.returncode != 0:
        pytest.fail(
            "booting Xen and Dom0 or running the Dom0 script failed:\n"
            + result.evidence(CASES[0])
        )
    return result


class Update:
    """The update case's inputs: its data token and each version's digest,
    or why they could not be built (then Dom0 does not run the case)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.digests: dict[int, str] = {}
        self.problem = ""


# The versions of the update case: the guest's command line (read by
# tests/xen/guest/update-ramdisk-init) and params.cfg values. v3 never
# reports health, so its update fails after GUEST_HEALTH_TIMEOUT; v4 reports
# it late, long after the test has killed the manager waiting for it.
UPDATE_VERSIONS = {
    1: ("e2e_health=ok e2e_token={token}", {}),
    2: ("e2e_health=ok", {}),
    3: ("e2e_health=never", {"GUEST_HEALTH_TIMEOUT": "15"}),
    4: ("e2e_health=ok e2e_health_delay=30", {"GUEST_HEALTH_TIMEOUT": "90"}),
}


def build_update_images(
    mkimage: Path, manager: Path, kernel: str, inputs: Path, share: Path
) -> Update:
    """update-vN.xenguest in SHARE from tests/xen/update-guest.toml."""
    update = Update(f"e2e-data-{uuid.uuid4().hex}")
    # Without the action, the Dom0 part would only record failures.
    has = subprocess.run([manager, "update", "--help"], capture_output=True, text=True)
    if has.returncode != 0:
        update.problem = (
            f"`{manager.name} update --help` exits {has.returncode}: the manager has no"
            f" `update` action\n{has.stdout}{has.stderr}"
        )
        return update
    ramdisk = subprocess.run(
        [
            HERE / "mkinitramfs",
            "--binary",
            "/usr/bin/xenstore-write",
            "--binary",
            "/usr/bin/xenstore-read",
            inputs / "update-ramdisk.cpio.gz",
            HERE / "guest" / "update-ramdisk-init",
            "xen-blkfront",
            "ext4",
            "xenfs",
        ],
        capture_output=True,
        text=True,
    )
    if ramdisk.returncode != 0:
        update.problem = f"the update guest's ramdisk: {ramdisk.stderr}"
        return update
    for version, (words, params) in UPDATE_VERSIONS.items():
        cmdline = f"console=hvc0 loglevel=4 e2e_version={version} " + words.format(
            token=update.token
        )
        image = inputs / f"update-v{version}.xenguest"
        cmd = [mkimage, "build", HERE / "update-guest.toml", "-o", image]
        cmd += ["--define", f"KERNEL={kernel}", "--define", f"E2E={inputs}"]
        cmd += ["--set", f"guest.cmdline={cmdline}"]
        for key, value in params.items():
            cmd += ["--set", f"params.{key}={value}"]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            update.problem = f"building update-v{version}.xenguest: {built.stderr}"
            return update
        update.digests[version] = hashlib.sha256(image.read_bytes()).hexdigest()
    for version in UPDATE_VERSIONS:
        for member in inputs.glob(f"update-v{version}.xenguest*"):  # and its .sha256
            shutil.copy(member, share)
    return update


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
        for t in (
            "qemu-system-x86_64",
            "xl",
            "xenstore-write",
            "cpio",
            "modprobe",
            "lvm",
            "parted",
            "mkfs.ext4",
        )
        if shutil.which(t) is None
    ]
    assert not missing, f"not installed: {missing} (scripts/test installs them)"


# --- Guest updates (case `update`; docs/xen-e2e.md, "Guest updates") --------

UPDATE_PHASES = ("v1", "v2", "v3", "v4")
# The history state of the version in use (the others: previous, retired,
# failed, rolled-back, installing).
CURRENT_STATES = {"active"}


def boots(console: str) -> list[dict[str, str]]:
    """Each boot of the update guest in CONSOLE, in order: its
    `E2E-GUEST: KEY: VALUE` / `E2E-GUEST: KEY VALUE` lines as a dict."""
    out: list[dict[str, str]] = []
    for raw in console.splitlines():
        line = raw.strip()
        if line == "E2E-GUEST: ramdisk running":
            out.append({})
        elif line.startswith("E2E-GUEST: ") and out:
            rest = line[len("E2E-GUEST: ") :]
            m = re.match(r"(data|booted before|FAIL): ?(.*)$", rest) or re.match(
                r"(version|domid) (\S*)$", rest
            )
            if m:
                out[-1][m.group(1)] = m.group(2).strip()
            else:
                out[-1][rest] = ""
    return out


def history_doc(run: Run, phase: str) -> dict:
    """`history NAME --json` after PHASE."""
    text = run.read("update", f"history-{phase}.json")
    try:
        doc = json.loads(text)
    except ValueError as err:
        pytest.fail(f"history-{phase}.json is not JSON ({err})\n" + run.evidence("update"))
    assert isinstance(doc, dict) and doc.get("ok") is True, run.evidence("update")
    return doc


def history(run: Run, phase: str) -> list[dict]:
    """The versions `history NAME --json` listed after PHASE."""
    versions = history_doc(run, phase).get("versions")
    assert isinstance(versions, list), run.evidence("update")
    return versions


def states(run: Run, phase: str) -> dict[int | None, str]:
    """Each of the test's image versions in the history after PHASE, with
    its state."""
    return {version_of(run, e): str(e.get("state")) for e in history(run, phase)}


def version_of(run: Run, entry: dict) -> int | None:
    """Which of the test's images a history entry is (by its digest)."""
    text = json.dumps(entry)
    assert run.update is not None
    found = [v for v, d in run.update.digests.items() if d in text]
    return found[0] if len(found) == 1 else None


def current_versions(run: Run, phase: str) -> list[int | None]:
    return [
        version_of(run, e)
        for e in history(run, phase)
        if str(e.get("state", e.get("status", ""))).lower() in CURRENT_STATES
    ]


@pytest.fixture(scope="module")
def update(run: Run) -> Run:
    """The run, failing when the update case could not run at all."""
    if run.update is None or run.update.problem:
        pytest.fail(
            "the update case did not run: "
            + (run.update.problem if run.update else "no update inputs")
        )
    return run


def test_update_v1_writes_its_data_partition(update: Run) -> None:
    run = update
    for action in ("create", "start"):
        assert run.step_status("update", action) == 0, action + "\n" + run.evidence("update")
    first = boots(run.read("update", "console-v1.log"))
    assert len(first) == 1, run.evidence("update")
    assert first[0].get("version") == "1", run.evidence("update")
    assert "data written" in first[0], run.evidence("update")
    assert first[0].get("data") == run.update.token, run.evidence("update")
    assert "data saved" in first[0], run.evidence("update")


def test_guest_reports_health_through_xenstore(update: Run) -> None:
    """The guest's own xenstore-write reaches Dom0's xenstore-read."""
    run = update
    assert "health ok written" in boots(run.read("update", "console-v1.log"))[-1], run.evidence(
        "update"
    )
    assert run.read("update", "health-v1.txt").strip() == "ok", run.evidence("update")


def test_update_to_a_healthy_version_commits(update: Run) -> None:
    run = update
    assert run.step_status("update", "update", 0) == 0, run.evidence("update")
    after = boots(run.read("update", "console-v2.log"))
    assert after, run.evidence("update")
    v2 = after[-1]
    assert v2.get("version") == "2", run.evidence("update")
    # Partition 3 came over from v1's disk block by block.
    assert v2.get("data") == run.update.token, run.evidence("update")
    assert v2.get("booted before") == "v1", run.evidence("update")
    assert run.read("update", "domains-v2.txt").strip() == "1", run.evidence("update")
    assert run.read("update", "health-v2.txt").strip() == "ok", run.evidence("update")
    versions = [version_of(run, e) for e in history(run, "v2")]
    assert sorted(v for v in versions if v) == [1, 2], run.evidence("update")
    assert len(versions) == 2, run.evidence("update")
    assert current_versions(run, "v2") == [2], run.evidence("update")
    # v1 is what `rollback` would go back to; nothing is left half done.
    assert states(run, "v2") == {1: "previous", 2: "active"}, run.evidence("update")
    assert history_doc(run, "v2").get("pending") is None, run.evidence("update")


def test_update_to_an_unhealthy_version_rolls_back(update: Run) -> None:
    run = update
    status = run.step_status("update", "update", 1)
    assert status not in (None, 0), run.evidence("update")
    seen = boots(run.read("update", "console-v3.log"))
    versions = [b.get("version") for b in seen]
    # v3 booted and withheld its health; then v2 booted again.
    assert "3" in versions, run.evidence("update")
    assert "health withheld" in seen[versions.index("3")], run.evidence("update")
    assert versions[-1] == "2", run.evidence("update")
    again = seen[-1]
    assert again.get("data") == run.update.token, run.evidence("update")
    # v2's own disk, as before the update: v3's boot is not on it.
    assert again.get("booted before") == "v1 v2", run.evidence("update")
    assert run.read("update", "domains-v3.txt").strip() == "1", run.evidence("update")
    assert current_versions(run, "v3") == [2], run.evidence("update")
    assert states(run, "v3").get(3) == "failed", run.evidence("update")
    assert history_doc(run, "v3").get("pending") is None, run.evidence("update")


def test_killed_update_is_finished_or_undone_by_boot_start(update: Run) -> None:
    run = update
    assert run.read("update", "v4-killed.txt").strip() == "killed", run.evidence("update")
    assert run.step_status("update", "boot-start") == 0, run.evidence("update")
    seen = boots(run.read("update", "console-v4.log"))
    assert seen and seen[0].get("version") == "4", run.evidence("update")
    # Exactly one domain, and it is the version the history names current.
    assert run.read("update", "domains-v4.txt").strip() == "1", run.evidence("update")
    running = seen[-1]
    assert running.get("version") in ("2", "4"), run.evidence("update")
    assert running.get("data") == run.update.token, run.evidence("update")
    assert current_versions(run, "v4") == [int(running["version"])], run.evidence("update")
    assert run.read("update", "health-v4.txt").strip() == "ok", run.evidence("update")
    # Finished or undone: no interrupted update is left.
    assert history_doc(run, "v4").get("pending") is None, run.evidence("update")


def test_updated_guest_remove_leaves_nothing(update: Run) -> None:
    run = update
    name = "e2e-update"
    assert run.step_status("update", "stop") == 0, run.evidence("update")
    assert run.step_status("update", "remove") == 0, run.evidence("update")
    left = run.sections("update")
    assert left, "no after-remove.txt\n" + run.evidence("update")
    assert name not in left["xl list"], run.evidence("update")
    assert name not in left["lvs"], run.evidence("update")
    assert name.replace("-", "--") not in left["dmsetup ls"], run.evidence("update")
    assert left["losetup -a"] == "", run.evidence("update")
    assert "No such file or directory" in left["guest directory"], run.evidence("update")
    assert left["disk files"] == "", run.evidence("update")
    assert name not in left["manager list"].split(), run.evidence("update")
