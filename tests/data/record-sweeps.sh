#!/bin/sh
# How the captures of the scans 2.2.3 never named (issue 14) were recorded,
# as root, with recording.sh's two namespaces.  The target 198.51.100.2
# also holds 203.0.113.1-100 (on its loopback), routed to from the attacker
# 198.51.100.1, for the sweeps of many hosts; neither namespace has any
# other route, so the answers to hping3's random sources go nowhere.
# Real nmap 7.93 and hping3 from Debian; tcpdump on the target's side.
# usage: record-sweeps.sh [CAPTURE...]: all of them, or the ones named
ONLY="$*"
. "$(dirname "$0")/recording.sh"
for i in $(seq 1 100); do ip -n $B addr add 203.0.113.$i/32 dev lo; done
ip -n $A route add 203.0.113.0/24 via 198.51.100.2

ip netns exec $B python3 "$(dirname "$0")/../servers.py" 198.51.100.2 >/dev/null &
LISTENERS=$!
sleep 1

rec sweep-nmap-sA.pcap nmap -n -Pn -sA -p 1-200 $T
rec sweep-nmap-sW.pcap nmap -n -Pn -sW -p 1-200 $T
rec sweep-nmap-sM.pcap nmap -n -Pn -sM -p 1-200 $T
rec sweep-nmap-sO.pcap nmap -n -Pn -sO -p 1-40 $T
rec sweep-nmap-p22.pcap nmap -n -Pn -sS -p 22 203.0.113.1-100
rec sweep-nmap-sn.pcap nmap -n -sn 203.0.113.1-100
SNAP=54 rec sweep-hping-rand-source.pcap hping3 -S -p 80 --rand-source -i u100 -c 4000 $T
rec sweep-nmap-D.pcap nmap -n -Pn -sS -p 1-100 -D 198.51.100.11,198.51.100.12,ME,198.51.100.13 $T
kill $LISTENERS
