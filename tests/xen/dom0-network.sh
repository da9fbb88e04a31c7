# SPDX-License-Identifier: MIT
#
# The Dom0 side of the network test on real Xen (tests/xen/test_network.py),
# run by tests/xen/run-dom0 in Dom0 as root with the share as working
# directory. Input in the share: bridge.xenguest, nat.xenguest,
# none.xenguest (XENGUEST_NETWORK_TYPE as named), e2e.env
# (XENGUEST_MANAGER, E2E_TOKEN).
#
# The outside world is the network namespace `outside`, linked to Dom0 by
# a veth pair (uplink, a member of Dom0's bridge xenbr0 at 192.0.2.2 <->
# wan0 at 192.0.2.1): busybox udhcpd serves 192.0.2.100-150 there and a TCP
# service on port 7000 answers E2E_TOKEN. All traffic stays in Dom0.
# Evidence goes to results/net/ (steps.log, console-TYPE.log, forward.txt,
# running.txt, after.txt).
set -u
share=${XEN_E2E_SHARE:?run this through tests/xen/run-dom0}
# shellcheck source=/dev/null
. "$share/e2e.env"
out=$share/results/net
rm -rf "$out"
mkdir -p "$out"
: >"$out/steps.log"

step() {
    local rc t0=$SECONDS
    echo "+ $*" >>"$out/steps.log"
    "$@" >>"$out/steps.log" 2>&1
    rc=$?
    echo "= exit $rc ($((SECONDS - t0))s)" >>"$out/steps.log"
    return $rc
}

wait_console() {
    local log=$1 limit=$2 i
    for ((i = 0; i < limit; i++)); do
        grep -q 'E2E-NET: done' "$log" 2>/dev/null && return 0
        sleep 1
    done
    echo "$log: no 'E2E-NET: done' within ${limit}s" >>"$out/steps.log"
    return 1
}

# The manager runs `udhcpd`; this Dom0 (the host's Debian) has busybox's
# applet without the link an OE-core Dom0 has.
command -v udhcpd >/dev/null || ln -s /usr/bin/busybox /usr/sbin/udhcpd
for m in bridge veth nf_tables nft_chain_nat nft_masq nf_nat; do
    modprobe "$m" >>"$out/steps.log" 2>&1 || echo "cannot load $m" >>"$out/steps.log"
done

# The outside world.
step ip netns add outside
step ip link add uplink type veth peer name wan0
step ip link set wan0 netns outside
step ip netns exec outside ip link set lo up
step ip netns exec outside ip address add 192.0.2.1/24 dev wan0
step ip netns exec outside ip link set wan0 up
printf 'start 192.0.2.100\nend 192.0.2.150\ninterface wan0\npidfile /run/outside-udhcpd.pid\nlease_file /run/outside-udhcpd.leases\noption subnet 255.255.255.0\noption router 192.0.2.1\n' >/run/outside-udhcpd.conf
: >/run/outside-udhcpd.leases
step ip netns exec outside busybox udhcpd -S /run/outside-udhcpd.conf
printf '#!/bin/sh\necho %s\n' "$E2E_TOKEN" >/run/outside-service
chmod 0755 /run/outside-service
ip netns exec outside setsid busybox nc -ll -p 7000 -e /run/outside-service </dev/null >/dev/null 2>&1 &
# Dom0's uplink: the bridge of bridge guests, and Dom0's own address.
step ip link add name xenbr0 type bridge
step ip link set dev uplink master xenbr0
step ip link set dev uplink up
step ip address add 192.0.2.2/24 dev xenbr0
step ip link set dev xenbr0 up

mkdir -p /etc/xenguest
printf 'XENGUEST_VOLUME_DEVICE=""\nXENGUEST_FIREWALL="nftables"\nXENGUEST_LOG_LEVEL="VERBOSE"\n' >/etc/xenguest/xenguest-manager.conf
for t in bridge nat none; do
    step "$XENGUEST_MANAGER" create "$share/$t.xenguest" "net-$t"
    { echo "## $t"; grep '^vif' "/etc/xenguest/guests/net-$t/xl.cfg"; } >>"$out/vif.txt"
done
# One guest at a time (two guests at once fail in this small Dom0).
step "$XENGUEST_MANAGER" start net-bridge && wait_console /var/log/xen/console/guest-net-bridge.log 150
step "$XENGUEST_MANAGER" stop net-bridge

step "$XENGUEST_MANAGER" start net-nat && wait_console /var/log/xen/console/guest-net-nat.log 150
{
    echo "## addresses"
    ip -o -4 address
    echo "## links"
    ip -o link
    echo "## ruleset"
    nft list ruleset
    echo "## udhcpd"
    pgrep -a udhcpd
} >"$out/running.txt" 2>&1
# From the outside, Dom0's forwarded port reaches the nat guest's port 22.
for _ in 1 2 3 4 5; do
    ip netns exec outside busybox nc -w 10 192.0.2.2 2222 </dev/null >"$out/forward.txt" 2>&1
    rc=$?
    grep -q E2E-NET-GUEST-SERVICE "$out/forward.txt" && break
    sleep 1
done
echo "exit $rc" >>"$out/forward.txt"
step "$XENGUEST_MANAGER" stop net-nat

# A none guest: Xen gives it no network device (seen while it is paused
# at first and then runs; no need to wait for its kernel).
step "$XENGUEST_MANAGER" start net-none
xl network-list net-none >"$out/none-vifs.txt" 2>&1
echo "exit $?" >>"$out/none-vifs.txt"
step "$XENGUEST_MANAGER" kill net-none

for t in bridge nat; do
    cp "/var/log/xen/console/guest-net-$t.log" "$out/console-$t.log" 2>/dev/null
done
# udhcpd got SIGTERM; let it exit.
for _ in $(seq 50); do pgrep -f /run/xenguest/net >/dev/null || break; sleep 0.2; done
{
    echo "## links"
    ip -o link | grep -E 'xgnat|vif' || true
    echo "## addresses"
    ip -o -4 address | grep -v -E ' (lo|xenbr0) ' || true
    echo "## ruleset"
    nft list ruleset
    echo "## processes"
    pgrep -a -f /run/xenguest/net || true
    echo "## run"
    ls /run/xenguest/net 2>/dev/null
} >"$out/after-stop.txt" 2>&1
for t in bridge nat none; do
    step "$XENGUEST_MANAGER" remove "net-$t"
done
{
    echo "## links"
    ip -o link | grep -E 'xgnat|vif' || true
    echo "## ruleset"
    nft list ruleset
    echo "## processes"
    pgrep -a -f /run/xenguest/net || true
    echo "## guests"
    "$XENGUEST_MANAGER" list
} >"$out/after-remove.txt" 2>&1
cp /var/log/xenguest "$out/manager.log" 2>/dev/null
exit 0
