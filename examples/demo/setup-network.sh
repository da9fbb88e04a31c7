#!/bin/sh
# Runs on the host once the guest is created (paused), after params.cfg
# is sourced: $guestname, $guestdir and XENGUEST_NETWORK_TYPE are set.
echo "demo guest ${guestname}: network ${XENGUEST_NETWORK_TYPE}"
