#!/bin/sh
# How the captures of the third detection round were recorded (as root)
# with recording.sh's two namespaces: half-open probes of served ports, a
# load test (and one against a server that cannot keep up), a short UDP
# flood, IPv6 host discovery.  The target B
# (198.51.100.2, 2001:db8::2 and ::10, ::20, ::30) also holds 203.0.113.1-60
# and 2001:db8:1::1-60 on its loopback, routed to from the attacker A
# (198.51.100.1, 2001:db8::1), and serves TCP 22, 80, 443 and UDP 53 on
# every address (servers.py) and HTTP on 8080 (python3 -m http.server).
# Real nmap 7.93, masscan 1.3.2, ab (apache2-utils) and hping3 from Debian;
# tcpdump on the target's side.
# usage: record-probes.sh [CAPTURE...]: all of them, or the ones named
ONLY="$*"
. "$(dirname "$0")/recording.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ip -n $A addr add 2001:db8::1/64 dev reca nodad
ip -n $B addr add 2001:db8::2/64 dev recb nodad
for i in 10 20 30; do ip -n $B addr add 2001:db8::$i/64 dev recb nodad; done
for i in $(seq 1 60); do
    ip -n $B addr add 203.0.113.$i/32 dev lo
    ip -n $B addr add 2001:db8:1::$i/128 dev lo
done
ip -n $A route add 203.0.113.0/24 via 198.51.100.2
ip -n $A route add 2001:db8:1::/64 via 2001:db8::2
WWW=$(mktemp -d); echo hello > "$WWW/index.html"
ip netns exec $B python3 "$HERE/../servers.py" :: >/dev/null &
LISTENERS=$!
(cd "$WWW" && exec ip netns exec $B python3 -m http.server 8080 --bind 198.51.100.2) >/dev/null 2>&1 &
WEB=$!
sleep 2

# A port served by every host, probed half open: SYN, SYN-ACK, the prober's RST.
rec halfopen-nmap-p22.pcap nmap -n -Pn -sS -p 22 203.0.113.1-60
FILTER=ip6 rec halfopen-nmap6-p22.pcap nmap -6 -n -Pn -sS -p 22 $(seq -f '2001:db8:1::%g' 1 60)
MAC=$(ip -n $B link show recb | awk '/ether/ {print $2}')
rec halfopen-masscan-p22.pcap masscan 203.0.113.1-203.0.113.60 -p22 --rate 2000 \
    --router-mac "$MAC" --adapter reca --adapter-ip 198.51.100.1 --wait 2
# 2000 completed connections to one port in a few seconds.  Only the
# segments iplog's kernel filter keeps (SYN, FIN or RST set) are kept: all
# of them would make a 15 MB file.
SNAP=64 FILTER="tcp[13] & 7 != 0" rec load-ab.pcap ab -n 2000 -c 10 http://$T:8080/index.html
# The same load against a server that cannot keep up (an accept queue of 8,
# 2 ms a request, on 8081): its full queue drops SYNs and the clients' ACKs
# (it sends its SYN-ACK again), and ab gives up on connections after 3 s
# (its FIN, then a bare RST for the answer that comes later).
ip netns exec $B python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 8081)); s.listen(8)
while True:
    c, _ = s.accept(); time.sleep(0.002); c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"); c.close()
' &
SLOW=$!
sleep 1
SNAP=64 FILTER="tcp[13] & 7 != 0" rec load-ab-slow.pcap ab -s 3 -n 1500 -c 200 http://$T:8081/
kill $SLOW
# 200 datagrams in 0.4 s to one port, each from the next source port
rec udp-hping-flood200.pcap hping3 --udp -p 9999 -i u2000 -c 200 $T
# nmap's IPv6 host discovery on the link: neighbour solicitations for 64
# addresses, four of them there (::2, ::10, ::20, ::30)
FILTER=ip6 rec nd-nmap6-sn.pcap nmap -6 -n -sn 2001:db8::/122
kill $LISTENERS $WEB
rm -r "$WWW"
