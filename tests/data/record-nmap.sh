#!/bin/sh
# How the nmap captures in this folder were recorded (as root, loopback only):
# Debian's nmap 7.93 against 127.0.0.1, captured with tcpdump on lo.
set -e
rec() {
    out=$1; shift
    tcpdump -i lo -s 256 -U -w "$out" 'host 127.0.0.1' 2>/dev/null &
    pid=$!
    sleep 1
    "$@" >/dev/null
    sleep 1
    kill $pid; wait $pid || true
}
rec nmap-syn.pcap  nmap -n -Pn -sS -p 1-60 127.0.0.1
rec nmap-fin.pcap  nmap -n -Pn -sF -p 1-30 127.0.0.1
rec nmap-xmas.pcap nmap -n -Pn -sX -p 1-30 127.0.0.1
rec nmap-null.pcap nmap -n -Pn -sN -p 1-30 127.0.0.1
rec nmap-udp.pcap  nmap -n -Pn -sU -p 1-40 127.0.0.1
