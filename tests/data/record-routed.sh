#!/bin/sh
# How the captures that need a router between two namespaces were recorded
# (as root): three namespaces made here and removed at exit, neither with
# any other route.  Real radvd, nping (nmap 7.93) and iputils ping from
# Debian; tcpdump on the last namespace's side.
#
# router-neighbours.pcap: the router R (2001:db8:a::2, 2001:db8:b::1, radvd
# advertising 2001:db8:b::/64) forwards from the client A (2001:db8:a::1)
# to forty neighbours on N (2001:db8:b::101-128, each doing duplicate
# address detection and its multicast listener reports as it comes up): a
# connection to each one's port 80, a datagram, three pings.  Ordinary.
#
# smurf-two-networks.pcap: A (198.51.100.1) sends echo requests with the
# victim's address (198.51.100.66, on V) to 60 addresses of each of two
# networks on R's loopback (192.0.2.0/24, 203.0.113.0/24), twice each; R
# answers the victim.
# usage: record-routed.sh [CAPTURE...]: both, or the ones named
ONLY="$*"
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
A=pyiplog-rec-a; R=pyiplog-rec-r; N=pyiplog-rec-n
cleanup() { for n in $A $R $N; do ip netns del $n 2>/dev/null || true; done; }
trap cleanup EXIT
wanted() { [ -z "$ONLY" ] || echo " $ONLY " | grep -q " $1 "; }

# A -- R -- N: the veth pairs reca/recra and recn/recrn.
topology() {
    cleanup
    for n in $A $R $N; do ip netns add $n; ip -n $n link set lo up; done
    ip link add reca type veth peer name recra
    ip link set reca netns $A; ip link set recra netns $R
    ip link add recn type veth peer name recrn
    ip link set recn netns $N; ip link set recrn netns $R
    ip -n $A link set reca up; ip -n $R link set recra up; ip -n $R link set recrn up
}

if wanted router-neighbours.pcap; then
    topology
    ip netns exec $R sysctl -qw net.ipv6.conf.all.forwarding=1
    ip -n $A addr add 2001:db8:a::1/64 dev reca nodad
    ip -n $R addr add 2001:db8:a::2/64 dev recra nodad
    ip -n $R addr add 2001:db8:b::1/64 dev recrn nodad
    ip -n $A route add default via 2001:db8:a::2
    CONF=$(mktemp)
    printf '%s\n' 'interface recrn { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4;' \
        '  prefix 2001:db8:b::/64 { AdvOnLink on; AdvAutonomous on; }; };' > "$CONF"
    ip -n $N link set recn up
    ip netns exec $N tcpdump -i recn -s 128 -U -w router-neighbours.pcap ip6 2>/dev/null &
    DUMP=$!
    sleep 1
    ip netns exec $R radvd -C "$CONF" -n -p "$CONF.pid" -m stderr >/dev/null 2>&1 &
    RADVD=$!
    for i in $(seq 1 40); do
        ip -n $N addr add 2001:db8:b::$(printf %x $((0x100 + i)))/64 dev recn
    done
    sleep 5
    ip netns exec $N python3 "$HERE/../servers.py" :: >/dev/null &
    LISTENERS=$!
    sleep 1
    ip netns exec $A python3 -c '
import socket
for i in range(0x101, 0x129):
    socket.create_connection((f"2001:db8:b::{i:x}", 80), 2).close()'
    ip netns exec $A python3 -c 'import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"q", ("2001:db8:b::102", 53)); s.settimeout(2); s.recv(10)'
    ip netns exec $A ping -6 -c 3 -i 0.2 2001:db8:b::103 >/dev/null
    sleep 6
    kill $LISTENERS $RADVD $DUMP; wait $DUMP 2>/dev/null || true
    rm -f "$CONF" "$CONF.pid"
fi

if wanted smurf-two-networks.pcap; then
    topology  # N is the victim V here
    ip -n $A addr add 198.51.100.1/26 dev reca
    ip -n $R addr add 198.51.100.2/26 dev recra
    ip -n $R addr add 198.51.100.65/26 dev recrn
    ip -n $N addr add 198.51.100.66/26 dev recn
    ip -n $N link set recn up
    for i in $(seq 1 60); do
        ip -n $R addr add 192.0.2.$i/32 dev lo
        ip -n $R addr add 203.0.113.$i/32 dev lo
    done
    # the forged requests come in on A's side for an address on N's side
    ip netns exec $R sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.recra.rp_filter=0
    ip -n $A route add 192.0.2.0/24 via 198.51.100.2
    ip -n $A route add 203.0.113.0/24 via 198.51.100.2
    ip -n $N route add default via 198.51.100.65
    ip netns exec $N tcpdump -i recn -s 128 -U -w smurf-two-networks.pcap ip 2>/dev/null &
    DUMP=$!
    sleep 1
    ip netns exec $A nping -q --icmp --icmp-type echo -S 198.51.100.66 --rate 1000 -c 2 \
        192.0.2.1-60 203.0.113.1-60 >/dev/null 2>&1 || true
    sleep 2
    kill $DUMP; wait $DUMP 2>/dev/null || true
fi
