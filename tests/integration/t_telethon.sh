#!/usr/bin/env bash
#
# t_telethon.sh - a real Telegram client library (Debian's python3-telethon)
# connects through the proxy with its three MTProxy connection classes; the
# fake DC must receive its first unencrypted MTProto request (req_pq_multi)
# with the right tag each time.  Skipped if Telethon is not installed,
# except when CI is set (CI=true in CI): then that is a failure.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TPY=/usr/bin/python3
if ! "$TPY" -c 'import telethon' 2>/dev/null; then
    why="/usr/bin/python3 cannot import telethon (python3-telethon)"
    [ -z "${CI:-}" ] || die "$why, and CI is set"
    skip "$why"
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

start_fakedc fakedc
write_config "$TEST_DIR/telemt.conf"
start_telemt "$TEST_DIR/telemt.conf"

for spec in abridged:ef intermediate:ee randomized:dd; do
    IFS=: read -r conn tag <<<"$spec"
    secret=$ALICE
    [ "$conn" != randomized ] || secret=dd$BOB
    mark=$(lines "$FAKEDC_LOG")
    note "telethon $conn"
    rc=0
    timeout 60 "$TPY" -I "$here/telethon_probe.py" --port "$TELEMT_PORT" \
        --secret "$secret" --connection "$conn" --log "$FAKEDC_LOG" \
        --timeout 20 || rc=$?
    [ "$rc" != 3 ] || die "telethon $conn dialled something besides the proxy"
    line=$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)
    note "fake DC: ${line:-nothing}"
    assert_match "$line" \
        "^conn tag=$tag dc=2 first=mtproto constructor=be7e8ef1 ok=1" \
        "telethon $conn"
done
assert_alive "$TELEMT_PID" "telemt after the telethon clients"
