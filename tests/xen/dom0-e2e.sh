# SPDX-License-Identifier: MIT
#
# The Dom0 side of the end-to-end test on real Xen (docs/xen-e2e.md), run by
# tests/xen/run-dom0 in Dom0 as root with the share as working directory.
#
# Input in the share: guest.xenguest (built from tests/xen/guest.toml) and
# e2e.env (XENGUEST_MKIMAGE, XENGUEST_MANAGER: absolute paths of this
# checkout's binaries, reachable in Dom0 through the host root).
#
# For each case (lvm: a volume group on the virtio disk /dev/vda; file: a
# file-backed disk, no volume device configured) the guest is created and
# started, its console is awaited, then it is stopped and removed. Evidence
# goes to results/CASE/ for the test to assert on:
#   console.log        the guest's console (xenconsoled --log=guest)
#   init-scripts.log   one line per init script run (init.pre, init.d, init.post)
#   after-stop.txt     whether xl still lists the domain right after stop
#   after-remove.txt   what is left after remove: LVs, disk files, guest dir
#   steps.log          each command with its exit status
# A failing step is recorded and the case goes on to clean up, so one run
# shows everything that is wrong.
set -u
share=${XEN_E2E_SHARE:?run this through tests/xen/run-dom0}
# shellcheck source=/dev/null
. "$share/e2e.env"
: "${XENGUEST_MANAGER:?e2e.env must set XENGUEST_MANAGER}"
image=$share/guest.xenguest
export DM_DISABLE_UDEV=1

step() {
    local rc t0=$SECONDS
    echo "+ $*" >>"$out/steps.log"
    "$@" >>"$out/steps.log" 2>&1
    rc=$?
    echo "= exit $rc ($((SECONDS - t0))s)" >>"$out/steps.log"
    return $rc
}

# Waits (at most $2 s) until the guest's console says it is done.
wait_console() {
    local log=$1 limit=$2 i
    for ((i = 0; i < limit; i++)); do
        grep -q 'E2E-GUEST: done' "$log" 2>/dev/null && return 0
        sleep 1
    done
    echo "guest console did not say done within ${limit}s" >>"$out/steps.log"
    return 1
}

run_case() {
    local case=$1 name=e2e-$1
    out=$share/results/$case
    rm -rf "$out"
    mkdir -p "$out"
    : >"$out/steps.log"
    local conf=/etc/xenguest/xenguest-manager.conf
    mkdir -p /etc/xenguest
    if [ "$case" = lvm ]; then
        printf 'XENGUEST_VOLUME_DEVICE="/dev/vda"\nXENGUEST_VOLUME_NAME="vg-e2e"\nXENGUEST_COMPATIBLE="xen-e2e"\n' >"$conf"
    else
        printf 'XENGUEST_VOLUME_DEVICE=""\nXENGUEST_COMPATIBLE="xen-e2e"\n' >"$conf"
    fi
    echo "# $conf" >>"$out/steps.log"
    cat "$conf" >>"$out/steps.log"
    # The guest's init scripts append to the log params.cfg names.
    : >/xen-e2e/init-scripts.log

    local t0=$SECONDS
    step "$XENGUEST_MANAGER" create "$image" "$name" &&
        step "$XENGUEST_MANAGER" list &&
        step "$XENGUEST_MANAGER" start "$name" &&
        wait_console "/var/log/xen/console/guest-$name.log" 120
    echo "create+start+console: $((SECONDS - t0))s" >>"$out/steps.log"
    step "$XENGUEST_MANAGER" status "$name"
    step xl list
    # The guest stays up until asked: stop shuts it down cleanly and waits.
    step "$XENGUEST_MANAGER" stop "$name"
    step xl list
    # stop returns only once Xen no longer lists the domain, so a remove
    # right after it (what scripts do) never races xl's own destroy.
    if xl list "$name" >/dev/null 2>&1; then
        echo "after stop: domain still listed" >"$out/after-stop.txt"
    else
        echo "after stop: domain gone" >"$out/after-stop.txt"
    fi
    step "$XENGUEST_MANAGER" remove "$name"
    cp "/var/log/xen/console/guest-$name.log" "$out/console.log" 2>/dev/null
    cp /xen-e2e/init-scripts.log "$out/init-scripts.log"

    leftovers "$name" >"$out/after-remove.txt"
}

# What is left of guest $1 after its remove, one `## TITLE` section each.
leftovers() {
    local name=$1
    {
        echo "## xl list"
        xl list 2>&1
        echo "## lvs"
        lvs --noheadings -o vg_name,lv_name 2>&1
        echo "## dmsetup ls"
        dmsetup ls 2>&1
        echo "## losetup -a"
        losetup -a 2>&1
        echo "## guest directory"
        ls -la "/etc/xenguest/guests/$name" 2>&1
        echo "## disk files"
        # Every file Dom0 created or changed is in the overlay's upper layer.
        find /.overlay-rw/upper -name "*$name*" ! -path '*/var/log/xen/*' 2>/dev/null
        echo "## manager list"
        "$XENGUEST_MANAGER" list 2>&1
    }
}

# --- Guest updates (case `update`, on LVM) ----------------------------------
# Inputs: update-v1..v4.xenguest (tests/xen/update-guest.toml; the versions
# differ in their kernel command line, tests/xen/guest/update-ramdisk-init).
# v1 writes the test's token into its data partition (3, kept across
# updates); v2 reports health; v3 never does (small GUEST_HEALTH_TIMEOUT);
# v4 reports it late and its update is killed (SIGKILL) while the manager
# waits, then `boot-start` finishes or undoes it. Evidence in results/update/:
#   steps.log             each command with its exit status
#   console-PHASE.log     the guest's console since the phase began (v1,
#                         v2, v3, v4: the update to vN and what followed)
#   console.log           the whole console (every version, one file)
#   history-PHASE.json    `history NAME --json` after the phase
#   health-PHASE.txt      Dom0's `xenstore-read` of the running domain's
#                         data/xenguest/health after the phase
#   domains-PHASE.txt     how many domains named NAME run after the phase
#   after-remove.txt      what is left after remove (as for lvm and file)
#   manager.log           the manager's log of the case (level VERBOSE)
#   dmesg.txt             Dom0 kernel lines about crashed programs

# Byte length of the console log (0 when it does not exist yet).
console_size() { stat -c %s "$ucon" 2>/dev/null || echo 0; }

# The console written since byte offset $1.
console_since() { tail -c +$(($1 + 1)) "$ucon" 2>/dev/null; }

# Waits (at most $2 s) until the domain now named $uname has printed
# "done" in the console since offset $1: each boot prints its domain id
# (`E2E-GUEST: domid D`), so an earlier boot's lines do not count.
wait_running() {
    local off=$1 limit=$2 i domid=
    for ((i = 0; i < limit; i++)); do
        domid=$(xl domid "$uname" 2>/dev/null)
        if [ -n "$domid" ] && console_since "$off" |
            sed -n "/^E2E-GUEST: domid $domid\r\{0,1\}\$/,\$p" | grep -q 'E2E-GUEST: done'; then
            echo "# domain $domid is up (${i}s)" >>"$out/steps.log"
            return 0
        fi
        sleep 1
    done
    echo "# no running $uname domain (${domid:-none}) printed done within ${limit}s" >>"$out/steps.log"
    return 1
}

# Evidence after phase $1, the console since offset $2 (up to its end when
# the evidence is taken: $next_off, where the next phase's console starts).
phase_evidence() {
    local phase=$1 off=$2 domid
    "$XENGUEST_MANAGER" history "$uname" --json >"$out/history-$phase.json" 2>>"$out/steps.log"
    echo "# history --json: exit $?" >>"$out/steps.log"
    step "$XENGUEST_MANAGER" history "$uname"
    step "$XENGUEST_MANAGER" status "$uname"
    step xl list
    xl list 2>/dev/null | awk -v n="$uname" '$1 == n' | wc -l >"$out/domains-$phase.txt"
    domid=$(xl domid "$uname" 2>/dev/null)
    if [ -n "$domid" ]; then
        xenstore-read "/local/domain/$domid/data/xenguest/health" >"$out/health-$phase.txt" 2>&1
    else
        echo "(no domain $uname)" >"$out/health-$phase.txt"
    fi
    next_off=$(console_size)
    console_since "$off" | head -c $((next_off - off)) >"$out/console-$phase.log"
}

run_update() {
    uname=e2e-update
    out=$share/results/update
    ucon=/var/log/xen/console/guest-$uname.log
    rm -rf "$out"
    mkdir -p "$out"
    : >"$out/steps.log"
    local v
    for v in 1 2 3 4; do
        if [ ! -s "$share/update-v$v.xenguest" ]; then
            echo "no update-v$v.xenguest in the share: the update case did not run" >>"$out/steps.log"
            return
        fi
    done
    local conf=/etc/xenguest/xenguest-manager.conf
    # VERBOSE: the manager's log (manager.log) shows every command it ran.
    printf 'XENGUEST_VOLUME_DEVICE="/dev/vda"\nXENGUEST_VOLUME_NAME="vg-e2e"\nXENGUEST_COMPATIBLE="xen-e2e"\nXENGUEST_LOG_LEVEL="VERBOSE"\n' >"$conf"
    echo "# $conf" >>"$out/steps.log"
    cat "$conf" >>"$out/steps.log"
    : >/var/log/xenguest
    local t0=$SECONDS off
    next_off=$(console_size)

    off=$next_off
    step "$XENGUEST_MANAGER" create "$share/update-v1.xenguest" "$uname" &&
        step "$XENGUEST_MANAGER" start "$uname" &&
        wait_running "$off" 120
    phase_evidence v1 "$off"
    echo "v1 create+start+console: $((SECONDS - t0))s" >>"$out/steps.log"

    # v2 reports health: the update commits and v2 runs. Whatever the
    # outcome, the evidence waits for the domain that runs afterwards.
    off=$next_off
    t0=$SECONDS
    step "$XENGUEST_MANAGER" update "$uname" "$share/update-v2.xenguest"
    wait_running "$off" 60
    phase_evidence v2 "$off"
    echo "v2 update: $((SECONDS - t0))s" >>"$out/steps.log"

    # v3 never reports health: the update fails and v2 comes back.
    off=$next_off
    t0=$SECONDS
    step "$XENGUEST_MANAGER" update "$uname" "$share/update-v3.xenguest"
    wait_running "$off" 90
    phase_evidence v3 "$off"
    echo "v3 update and roll-back: $((SECONDS - t0))s" >>"$out/steps.log"

    # v4: the manager is killed while it waits for v4's health (v4 reports
    # it only after a delay); boot-start then finishes or undoes the update.
    off=$next_off
    t0=$SECONDS
    echo "+ $XENGUEST_MANAGER update $uname $share/update-v4.xenguest (killed)" >>"$out/steps.log"
    "$XENGUEST_MANAGER" update "$uname" "$share/update-v4.xenguest" >>"$out/steps.log" 2>&1 &
    local pid=$! i
    for ((i = 0; i < 150; i++)); do
        console_since "$off" | grep -q 'E2E-GUEST: version 4' && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        # Into the wait for health (v4 reports it 30 s after its boot).
        sleep 2
        echo "# before the kill: $(cat "/etc/xenguest/guests/.$uname.versions/pending.json" 2>&1 | tr -s ' \n' ' ')" >>"$out/steps.log"
        kill -9 "$pid"
        wait "$pid"
        echo "= killed ($((SECONDS - t0))s): exit $? after SIGKILL while v4 ran" >>"$out/steps.log"
        echo killed >"$out/v4-killed.txt"
    else
        wait "$pid"
        echo "= exit $? ($((SECONDS - t0))s): update ended before it could be killed" >>"$out/steps.log"
        echo "not killed: update ended by itself" >"$out/v4-killed.txt"
    fi
    step xl list
    step "$XENGUEST_MANAGER" boot-start
    # Whichever version runs now (v4 left running, or v2 booted once more).
    wait_running "$off" 90
    phase_evidence v4 "$off"
    echo "v4 killed update + boot-start: $((SECONDS - t0))s" >>"$out/steps.log"

    step "$XENGUEST_MANAGER" stop "$uname"
    step "$XENGUEST_MANAGER" remove "$uname"
    cp "$ucon" "$out/console.log" 2>/dev/null
    cp /var/log/xenguest "$out/manager.log" 2>/dev/null
    # A tool that crashed (the kernel logs a segfault) is worth seeing.
    dmesg 2>&1 | grep -iE 'segfault|trap|oom|killed process' >"$out/dmesg.txt"
    leftovers "$uname" >"$out/after-remove.txt"
}

mkdir -p "$share/results"
for c in lvm file; do
    run_case "$c"
done
run_update
exit 0
