#!/bin/bash
# A recording stand-in for the host tools xenguest-manager runs (xl, LVM,
# parted, losetup, mkfs, mount, dmsetup, ip, nft, iptables, sysctl,
# udhcpd). Installed under each tool's name
# on a PATH prefix by tests/integration/manager.rs.
#
# Every call appends one line, `TOOL ARG...`, to $STANDIN_STATE/calls.
# A file $STANDIN_STATE/fail-TOOL or fail-TOOL-FIRSTARG makes the call
# fail; an executable $STANDIN_STATE/on-TOOL runs first; slow-TOOL makes it
# hang. State (running domains, volumes) lives in $STANDIN_STATE.
set -u
tool=$(basename "$0")
state=$STANDIN_STATE
printf '%s\n' "$tool${*:+ $*}" >> "$state/calls"
# An executable $STANDIN_STATE/on-TOOL runs (with TOOL's arguments) before
# TOOL's action: a test's hook into a moment of the manager's work.
if [ -x "$state/on-$tool" ]; then "$state/on-$tool" "$@" || exit 1; fi
# A domain that died while it was being destroyed (xl then reports it as
# invalid).
if [ "$tool" = xl ] && [ "${1:-}" = destroy ] && [ -e "$state/vanish" ]; then
    grep -vxF -- "$2" "$state/running" > "$state/running.new"; mv "$state/running.new" "$state/running"
    echo "$2 is an invalid domain identifier (rc=-6)" >&2
    exit 1
fi
if [ -e "$state/fail-$tool" ] || [ -e "$state/fail-$tool-${1:-}" ]; then
    echo "standin: $tool failed on purpose" >&2
    exit 1
fi
# A file $STANDIN_STATE/slow-TOOL makes the call hang (after creating
# started-TOOL) until it is killed.
if [ -e "$state/slow-$tool" ]; then
    : > "$state/started-$tool"
    sleep 120
fi
enc() { printf '%s' "$1" | tr '/' '_'; }
last() { local a; for a in "$@"; do :; done; printf '%s' "$a"; }
running="$state/running"
touch "$running"
case $tool in
xl)
    case $1 in
    # $STANDIN_STATE/xl-info, when present, is what `xl info` prints.
    info) if [ -e "$state/xl-info" ]; then cat "$state/xl-info"; else echo "host : standin"; fi ;;
    list)
        echo "Name                                        ID   Mem VCPUs      State   Time(s)"
        echo "Domain-0                                     0  1024     1     r-----      10.0"
        while read -r n; do echo "$n                                       1   512     1     -b----       1.0"; done < "$running"
        # A domain that shut down stays listed (dying) for one more list.
        for f in "$state"/dying-*; do
            [ -e "$f" ] || continue
            n=${f#"$state"/dying-}
            echo "$n                                       1   512     1     --ps--       1.0"
            rm -f "$f"
        done
        ;;
    create)
        cfg=$(last "$@")
        name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$cfg" | tail -n 1)
        cp "$cfg" "$state/created-$name.cfg"
        echo "$name" >> "$running"
        ;;
    # Every domain has id 5; `xl domid` fails for one not running.
    domid) grep -qxF -- "$2" "$running" && echo 5 || { echo "$2 is an invalid domain identifier" >&2; exit 1; } ;;
    shutdown|destroy)
        name=$(last "$@")
        grep -vxF -- "$name" "$running" > "$running.new"; mv "$running.new" "$running"
        if [ "$1" = shutdown ] && [ -e "$state/linger" ]; then touch "$state/dying-$name"; fi
        ;;
    esac
    ;;
pvs) [ -e "$state/pv-$(enc "$(last "$@")")" ]; exit ;;
pvcreate) touch "$state/pv-$(enc "$(last "$@")")" ;;
lsblk) cat "$state/fstype-$(enc "$(last "$@")")" 2>/dev/null || true ;;
vgs) [ -e "$state/vg-$(last "$@")" ]; exit ;;
vgcreate) touch "$state/vg-$1"; echo "${DM_DISABLE_UDEV:-unset}" > "$state/dm-disable-udev" ;;
lvs) [ -e "$state/lv-$(enc "$(last "$@")")" ]; exit ;;
lvcreate)
    name= group=$(last "$@")
    while [ $# -gt 0 ]; do [ "$1" = -n ] && name=$2; shift; done
    touch "$state/lv-$(enc "$group/$name")"
    ;;
lvremove) rm -f "$state/lv-$(enc "$(last "$@")")" ;;
lvrename)
    [ -e "$state/lv-$(enc "$1/$2")" ] || { echo "standin: no volume $1/$2" >&2; exit 1; }
    [ ! -e "$state/lv-$(enc "$1/$3")" ] || { echo "standin: volume $1/$3 exists" >&2; exit 1; }
    mv "$state/lv-$(enc "$1/$2")" "$state/lv-$(enc "$1/$3")"
    ;;
# A guest's xenstore: $STANDIN_STATE/xenstore-PATH (slashes as _).
xenstore-read)
    f="$state/xenstore-$(enc "$1")"
    [ -e "$f" ] || { echo "couldn't read path $1" >&2; exit 1; }
    cat "$f"
    ;;
losetup)
    if [ "$1" = -d ]; then
        rm -f "$state/attached-$(basename "$2")"
    else
        # The first free loop device from loop7; its partitions are files
        # (the target's file, when it is one, is not read).
        mkdir -p "$state/dev"
        n=7
        while [ -e "$state/attached-loop$n" ]; do n=$((n + 1)); done
        dev=$state/dev/loop$n
        for p in 1 2 3 4; do : > "${dev}p$p"; done
        echo "$(last "$@")" > "$state/attached-loop$n"
        echo "$dev"
    fi
    ;;
dmsetup)
    if [ "$1" = ls ]; then
        if [ -s "$state/dm-mappings" ]; then cat "$state/dm-mappings"; else echo "No devices found"; fi
    elif [ "$1" = remove ]; then
        grep -v "^$2[[:space:]]" "$state/dm-mappings" > "$state/dm-mappings.new"; mv "$state/dm-mappings.new" "$state/dm-mappings"
    fi
    ;;
umount) find "$1" -mindepth 1 -delete ;; # what was mounted there goes away
# The host network: bridges (net-link-NAME), nftables tables
# (net-nft-TABLE, with a copy of the rules), iptables chains
# (net-ipt-CHAIN) and jumps to them (net-jump-CHAIN), DHCP servers.
ip)
    case "$*" in
    "link add name "*) touch "$state/net-link-$4" ;;
    "link show dev "*) [ -e "$state/net-link-$4" ]; exit ;;
    "link delete dev "*) [ -e "$state/net-link-$4" ] && rm "$state/net-link-$4"; exit ;;
    esac
    ;;
nft)
    case "$*" in
    "-f "*)
        table=$(sed -n 's/^table ip \([^ ]*\) {$/\1/p' "$2")
        cp "$2" "$state/net-nft-$table"
        ;;
    "list table ip "*) [ -e "$state/net-nft-$4" ]; exit ;;
    "delete table ip "*) [ -e "$state/net-nft-$4" ] && rm "$state/net-nft-$4"; exit ;;
    esac
    ;;
iptables)
    op= chain= jump=
    while [ $# -gt 0 ]; do
        case $1 in -N|-X|-L) op=$1; chain=$2 ;; -I|-D) op=$1 ;; -j) jump=$2 ;; esac
        shift
    done
    case $op in
    -N) touch "$state/net-ipt-$chain" ;;
    -L) [ -e "$state/net-ipt-$chain" ]; exit ;;
    -X) rm -f "$state/net-ipt-$chain" ;;
    -I) touch "$state/net-jump-$jump" ;;
    -D) [ -e "$state/net-jump-$jump" ] && rm "$state/net-jump-$jump"; exit ;;
    esac
    ;;
udhcpd)
    conf=$(last "$@")
    cp "$conf" "$state/udhcpd.conf"
    echo $$ > "$(sed -n 's/^pidfile //p' "$conf")"
    ;;
esac
exit 0
