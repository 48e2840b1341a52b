"""A few open ports for scans to find: TCP 22, 80, 443 accept and close,
UDP 53 echoes (not with ``--no-udp``, for a test that runs its own DNS
server there).  ``python tests/servers.py ADDRESS [--no-udp]``; prints
``ready``.  Used inside a network namespace by the live tests and record-attacks.sh."""

import socket
import sys
import threading


def tcp(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.close()


def udp(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


if __name__ == "__main__":
    address = sys.argv[1]
    for p in (22, 80, 443):
        threading.Thread(target=tcp, args=(address, p), daemon=True).start()
    if "--no-udp" not in sys.argv[2:]:
        threading.Thread(target=udp, args=(address, 53), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait(600)
