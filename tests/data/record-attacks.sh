#!/bin/sh
# How the attack captures in this folder were recorded (as root).  Two
# network namespaces joined by a veth pair, made here and removed at the end:
# the attacker 198.51.100.1 and the target 198.51.100.2, which has a few open
# ports (TCP 22, 80, 443; UDP 53 answers).  Real nmap 7.93 and hping3 from
# Debian; tcpdump on the target's side records both directions.
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

ip netns exec $B python3 "$(dirname "$0")/../servers.py" 198.51.100.2 &
LISTENERS=$!
sleep 1

rec() {
    out=$1; shift
    ip netns exec $B tcpdump -i recb -s 256 -U -w "$out" ip 2>/dev/null &
    dump=$!
    sleep 1
    ip netns exec $A "$@" >/dev/null 2>&1 || true
    sleep 2
    kill $dump; wait $dump 2>/dev/null || true
}
T=198.51.100.2
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
