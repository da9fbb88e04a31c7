#!/bin/sh
# Classic init.pre script.
echo "preparing ${guestname}"
