#!/bin/sh
# Classic init.d script: configure the guest before it starts.
xenstore-write "/local/domain/0/guest-${guestname}/ready" 1
