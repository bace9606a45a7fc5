"""Relay stdin/stdout to a TCP connection: ``python -m tests.support.tcp_relay HOST PORT``.

OpenSSH runs it as a ProxyCommand under ``nsenter --net=<namespace>`` so that Ansible on the host reaches a lab VM
from the lab controller's isolated network namespace (its address, its route) while still reaching the stand-ins
that listen on the host's loopback.
"""

import os
import socket
import sys
import threading


def _pump(read, write):
    while True:
        data = read(65536)
        if not data:
            return
        write(data)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main(host, port):
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def upstream():
        _pump(lambda size: os.read(stdin, size), connection.sendall)
        connection.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    _pump(connection.recv, lambda data: _write_all(stdout, data))


if __name__ == '__main__':
    main(*sys.argv[1:3])
