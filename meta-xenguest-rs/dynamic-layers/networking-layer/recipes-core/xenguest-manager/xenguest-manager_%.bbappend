# SPDX-License-Identifier: MIT
# nftables comes from meta-networking; this file is only read when that
# layer (collection networking-layer) is in BBLAYERS (BBFILES_DYNAMIC in
# conf/layer.conf). Without it the manager writes the nat guests' rules
# with iptables (XENGUEST_FIREWALL="auto" picks whichever works).
RRECOMMENDS:${PN} += "nftables"
