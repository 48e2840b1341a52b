#!/bin/sh
# How the IPv6 captures (issue 15) were recorded, as root, with
# recording.sh's two namespaces, which here also hold 2001:db8::1 (the
# attacker A) and 2001:db8::2 (the target B) on their veth ends, beside
# their link-local addresses.  Real nmap 7.93, iputils ping and traceroute
# from Debian; tcpdump on the target's side keeps every IPv6 packet,
# neighbour discovery included.
# usage: record-ipv6.sh [CAPTURE...]: all of them, or the ones named
ONLY="$*"
FILTER=ip6
. "$(dirname "$0")/recording.sh"
ip -n $A addr add 2001:db8::1/64 dev reca nodad
ip -n $B addr add 2001:db8::2/64 dev recb nodad
T6=2001:db8::2

ip netns exec $B python3 "$(dirname "$0")/../servers.py" $T6 >/dev/null &
LISTENERS=$!
sleep 1

rec ipv6-nmap-sS.pcap nmap -6 -n -Pn -sS -p 1-200 $T6
rec ipv6-nmap-sT.pcap nmap -6 -n -Pn -sT -p 1-200 $T6
rec ipv6-nmap-sF.pcap nmap -6 -n -Pn -sF -p 1-200 $T6
rec ipv6-nmap-sN.pcap nmap -6 -n -Pn -sN -p 1-200 $T6
rec ipv6-nmap-sX.pcap nmap -6 -n -Pn -sX -p 1-200 $T6
rec ipv6-nmap-sA.pcap nmap -6 -n -Pn -sA -p 1-200 $T6
rec ipv6-nmap-sU.pcap nmap -6 -n -Pn -sU --max-retries 1 -p 1-100 $T6
rec ipv6-ping-flood.pcap ping -6 -f -c 500 $T6
# ordinary traffic: one connection, three pings, an echo too big for the
# link (fragments), a traceroute, and the neighbour discovery around them
rec ipv6-ordinary.pcap sh -c "
    python3 -c 'import socket; socket.create_connection((\"$T6\", 80), 2, (\"2001:db8::1\", 45678)).close()'
    ping -6 -c 3 -i 0.2 $T6
    ping -6 -c 1 -s 3000 $T6
    traceroute -6 -n -q 1 -m 2 $T6
    ip neigh flush dev reca
    ping -6 -c 1 $T6
    sleep 6"
kill $LISTENERS
