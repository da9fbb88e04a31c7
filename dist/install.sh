#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs xenguest-manager's boot files from this directory's templates:
# the systemd unit, the sysvinit script (both run `xenguest-manager
# boot-start` / `boot-stop` from --bindir) and, when there is none yet, the
# default configuration file. Run as root after `cargo install`, e.g.
#
#   sh dist/install.sh --bindir /root/.cargo/bin
#
# then `systemctl enable xenguest-manager.service` (systemd) or
# `update-rc.d xenguest-manager defaults` (sysvinit). Packagers use
# --destdir (a staging directory) and the directories of their system.
set -eu

usage() {
    cat <<'EOF'
usage: sh dist/install.sh [OPTIONS]
  --bindir DIR      directory holding xenguest-manager (default: where
                    `command -v xenguest-manager` finds it)
  --destdir DIR     staging directory prefixed to every path below (default: none)
  --unitdir DIR     systemd unit directory (default: /etc/systemd/system)
  --initdir DIR     sysvinit script directory (default: /etc/init.d)
  --sysconfdir DIR  configuration directory (default: /etc)
  --no-systemd      do not install the systemd unit
  --no-sysvinit     do not install the sysvinit script
EOF
}

fail() {
    echo "dist/install.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
bindir=
destdir=
unitdir=/etc/systemd/system
initdir=/etc/init.d
sysconfdir=/etc
systemd=1
sysvinit=1
while [ $# -gt 0 ]; do
    case "$1" in
        --bindir|--destdir|--unitdir|--initdir|--sysconfdir)
            [ $# -ge 2 ] || fail "$1 needs a directory"
            case "$1" in
                --bindir) bindir=$2 ;;
                --destdir) destdir=$2 ;;
                --unitdir) unitdir=$2 ;;
                --initdir) initdir=$2 ;;
                --sysconfdir) sysconfdir=$2 ;;
            esac
            shift 2
            ;;
        --no-systemd) systemd=0; shift ;;
        --no-sysvinit) sysvinit=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; fail "unknown argument \`$1\`" ;;
    esac
done

if [ -z "$bindir" ]; then
    manager=$(command -v xenguest-manager) ||
        fail "xenguest-manager is not on PATH - give its directory with --bindir"
    bindir=$(dirname "$manager")
fi
for dir in "$bindir" "$unitdir" "$initdir" "$sysconfdir"; do
    case "$dir" in
        /*) ;;
        *) fail "\`$dir\` is not an absolute path - give the full path, starting with /" ;;
    esac
done
case "$bindir" in
    *[!A-Za-z0-9/._+-]*)
        fail "--bindir \`$bindir\` holds characters a unit's ExecStart would misread - use a directory of letters, digits and / . _ + -" ;;
esac
if [ -z "$destdir" ] && [ ! -x "$bindir/xenguest-manager" ]; then
    fail "\`$bindir/xenguest-manager\` is not an executable - give the directory cargo install put it in (--bindir)"
fi

render() { # TEMPLATE DEST MODE
    mkdir -p "$(dirname "$2")"
    sed -e "s,@BINDIR@,$bindir,g" "$1" > "$2.tmp"
    chmod "$3" "$2.tmp"
    mv -f "$2.tmp" "$2"
    echo "installed $2"
}

if [ "$systemd" = 1 ]; then
    render "$here/xenguest-manager.service.in" "$destdir$unitdir/xenguest-manager.service" 0644
fi
if [ "$sysvinit" = 1 ]; then
    render "$here/xenguest-manager.init.in" "$destdir$initdir/xenguest-manager" 0755
fi
for sub in guests init.pre init.d init.post; do
    mkdir -p "$destdir$sysconfdir/xenguest/$sub"
done
conf="$destdir$sysconfdir/xenguest/xenguest-manager.conf"
if [ -e "$conf" ]; then
    echo "kept $conf"
else
    cp "$here/xenguest-manager.conf" "$conf"
    chmod 0644 "$conf"
    echo "installed $conf"
fi
