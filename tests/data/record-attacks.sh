#!/bin/sh
# How the attack captures in this folder were recorded (as root), with
# recording.sh's two namespaces: the target 198.51.100.2 has a few open
# ports (TCP 22, 80, 443; UDP 53 answers).  Real nmap 7.93 and hping3 from
# Debian; tcpdump on the target's side records both directions.
# usage: record-attacks.sh [CAPTURE...]: all of them, or the ones named
ONLY="$*"
DEFAULT_SNAP=256
. "$(dirname "$0")/recording.sh"

ip netns exec $B python3 "$(dirname "$0")/../servers.py" 198.51.100.2 >/dev/null &
LISTENERS=$!
sleep 1

rec attack-nmap-sS.pcap nmap -n -Pn -sS -p 1-100 $T
rec attack-nmap-sT.pcap nmap -n -Pn -sT -p 1-100 $T
rec attack-nmap-sF.pcap nmap -n -Pn -sF -p 1-100 $T
rec attack-nmap-sX.pcap nmap -n -Pn -sX -p 1-100 $T
rec attack-nmap-sN.pcap nmap -n -Pn -sN -p 1-100 $T
rec attack-nmap-sU.pcap nmap -n -Pn -sU -p 1-60 $T
rec attack-nmap-O.pcap nmap -n -Pn -O -p 22,80,443,1 $T
rec attack-hping-icmp.pcap hping3 --icmp --faster -c 300 $T
rec attack-hping-udp.pcap hping3 --udp -p 9999 -i u2500 -c 600 $T
rec attack-hping-syn.pcap hping3 -S -p 80 -i u2500 -c 600 $T
kill $LISTENERS
