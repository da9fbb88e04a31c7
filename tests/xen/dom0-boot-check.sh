# SPDX-License-Identifier: MIT
#
# The check of the boot test (tests/xen/test_boot.py), run in Dom0 by the
# init under test once it has started its services (systemd:
# xen-e2e-check.service after xenguest-manager.service). Nothing here
# creates or starts a guest: it records what the init and the package's
# boot files did, waits for the autoboot guest's console, then asks the
# init to power Dom0 off ($XEN_E2E_POWEROFF), whose shutdown must stop the
# guests. Evidence in results/boot/:
#   pid1.txt          the command line of PID 1
#   unit.txt          the manager unit's state (systemd)
#   rc-links.txt      the manager's sysvinit links (/etc/rc?.d)
#   xl-list.txt       `xl list` after boot
#   manager-list.txt  `xenguest-manager list` and `status`
#   manager.log       /var/log/xenguest
set -u
share=${XEN_E2E_SHARE:?run this through tests/xen/run-dom0}
out=$share/results/boot
rm -rf "$out"
mkdir -p "$out"

tr '\0' ' ' </proc/1/cmdline >"$out/pid1.txt"
ls /etc/rc?.d/*xenguest-manager >"$out/rc-links.txt" 2>&1
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl show -p ActiveState -p SubState -p Result -p UnitFileState \
        xenguest-manager.service >"$out/unit.txt" 2>&1
    journalctl -b --no-pager -o cat -u xenguest-manager.service >"$out/unit-journal.txt" 2>&1
fi
# The autoboot guest's console says it is up (at most 90 s).
for ((i = 0; i < 90; i++)); do
    grep -q 'E2E-GUEST: done' /var/log/xen/console/guest-boot-auto.log 2>/dev/null && break
    sleep 1
done
xl list >"$out/xl-list.txt" 2>&1
{
    xenguest-manager list
    echo "## status"
    xenguest-manager status
} >"$out/manager-list.txt" 2>&1
cp /var/log/xenguest "$out/manager.log" 2>/dev/null
echo 0 >"$share/script.rc"
echo "xen-e2e: check done, powering off"
${XEN_E2E_POWEROFF:-systemctl poweroff --no-block}
