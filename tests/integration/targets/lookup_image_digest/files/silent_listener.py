"""Accept TCP connections on 127.0.0.1 and never answer: a registry that hangs.

Usage: silent_listener.py PORT_FILE SECONDS. Writes its pid to PORT_FILE.pid and the port it listens on to
PORT_FILE (renamed into place, so it is never seen half written), then exits after SECONDS."""

import os
import socket
import sys
import time

port_file, seconds = sys.argv[1], float(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
with open(port_file + ".pid", "w") as handle:
    handle.write(str(os.getpid()))
with open(port_file + ".tmp", "w") as handle:
    handle.write(str(server.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
held = []
deadline = time.monotonic() + seconds
server.settimeout(0.5)
while time.monotonic() < deadline:
    try:
        held.append(server.accept()[0])
    except socket.timeout:
        pass
