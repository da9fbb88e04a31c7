#!/bin/sh
# SPDX-License-Identifier: MIT
# Run by the host's guest manager (sourced in a subshell) once the guest is
# created and before it starts; params.cfg is already sourced.
echo "xenguest-example-disk: ${guestname:-guest} created (network: ${XENGUEST_NETWORK_TYPE:-none})"
