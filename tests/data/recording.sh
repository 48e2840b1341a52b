# Shared by record-attacks.sh and record-sweeps.sh (sourced, as root): two
# network namespaces joined by a veth pair, made here and removed at exit:
# the attacker $A (198.51.100.1) and the target $B (198.51.100.2), with no
# other route.  `rec OUT CMD...` runs CMD in $A while tcpdump on the
# target's side records both directions into OUT (snap length $SNAP, 128 by
# default; the packets $FILTER keeps, IPv4 by default); with $ONLY set, only
# the captures it names are made.
set -e
A=pyiplog-rec-a; B=pyiplog-rec-b
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $A; ip netns add $B
ip link add reca type veth peer name recb
ip link set reca netns $A; ip link set recb netns $B
ip -n $A addr add 198.51.100.1/24 dev reca; ip -n $B addr add 198.51.100.2/24 dev recb
ip -n $A link set reca up; ip -n $B link set recb up
ip -n $A link set lo up; ip -n $B link set lo up
T=198.51.100.2

rec() {
    out=$1; shift
    if [ -n "$ONLY" ] && ! echo " $ONLY " | grep -q " $out "; then return; fi
    ip netns exec $B tcpdump -i recb -s "${SNAP:-${DEFAULT_SNAP:-128}}" -U -w "$out" "${FILTER:-ip}" 2>/dev/null &
    dump=$!
    sleep 1
    ip netns exec $A "$@" >/dev/null 2>&1 || true
    sleep 2
    kill $dump; wait $dump 2>/dev/null || true
}
