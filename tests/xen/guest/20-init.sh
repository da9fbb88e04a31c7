# Sourced by the host manager from the guest's directory in Dom0 (init.d):
# records that it ran, in which order, and that params.cfg is visible.
echo "init.d ${guestname:-?} ${E2E_TOKEN:-params-missing}" >>"${E2E_LOG:?E2E_LOG is not set: params.cfg was not sourced}"
