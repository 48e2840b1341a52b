"""Wire constants in one place: link types, EtherTypes, IP and TCP bits.

Link types come from pypcap (``pcap``), which the capture already loads;
the two it lacks are declared with libpcap's numbers.  Protocol numbers come
from the standard library.  EtherTypes and TCP/IP flag bits are dpkt's
values (``dpkt.ethernet.ETH_TYPE_*``, ``dpkt.tcp.TH_*``, ``dpkt.ip.IP_*``),
declared here because importing dpkt costs 30 ms at every start; a test
holds them equal to dpkt's.
"""

from __future__ import annotations

import socket

import pcap

# Link types (pcap-linktype(7)).
DLT_NULL: int = pcap.DLT_NULL
DLT_EN10MB: int = pcap.DLT_EN10MB
DLT_RAW: int = pcap.DLT_RAW  # 12 on Linux; 14 on OpenBSD (below)
DLT_LOOP: int = pcap.DLT_LOOP
DLT_LINUX_SLL: int = pcap.DLT_LINUX_SLL
DLT_RAW_OPENBSD = 14
DLT_LINUX_SLL2 = 276  # not in pypcap 1.3
DLT_IPV4 = 228  # not in pypcap 1.3
LINKTYPE_RAW = 101  # what pcap files say for DLT_RAW

# IP protocol numbers.
IPPROTO_ICMP: int = socket.IPPROTO_ICMP
IPPROTO_TCP: int = socket.IPPROTO_TCP
IPPROTO_UDP: int = socket.IPPROTO_UDP
IPPROTO_ICMPV6: int = socket.IPPROTO_ICMPV6
IPPROTO_FRAGMENT: int = socket.IPPROTO_FRAGMENT  # IPv6's fragment header
IPPROTO_AH: int = socket.IPPROTO_AH  # its length counts 4-octet units

# EtherTypes.
ETH_TYPE_IP = 0x0800
ETH_TYPE_IP6 = 0x86DD  # dpkt.ethernet.ETH_TYPE_IP6
ETH_TYPE_8021Q = 0x8100
ETH_TYPE_8021AD = 0x88A8
ETH_TYPE_QINQ1 = 0x9100
ETH_TYPES_VLAN = (ETH_TYPE_8021Q, ETH_TYPE_8021AD, ETH_TYPE_QINQ1)

# IPv4 flags + fragment offset field.
IP_RF = 0x8000
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF

# TCP flags (TH_ECE and TH_CWR are the two bits 2.2.3 called bogus).
TH_FIN = 0x01
TH_SYN = 0x02
TH_RST = 0x04
TH_PUSH = 0x08
TH_ACK = 0x10
TH_URG = 0x20
TH_ECE = 0x40
TH_CWR = 0x80
