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
    } >"$out/after-remove.txt"
}

mkdir -p "$share/results"
for c in lvm file; do
    run_case "$c"
done
exit 0
