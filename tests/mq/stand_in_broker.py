"""A stand-in for the `activemq` command, for lifecycle tests that need no JVM: it reads the
activemq.xml the engine wrote, listens on its transport connectors' ports (so the engine sees a
broker accept connections) and runs until it is signalled.

While a file named `hold` exists beside its wrapper it waits before listening (the test holds
the broker in CREATION_IN_PROGRESS); a configuration holding the text `stand-in-refuses` makes it
exit with an error line, as a broker refusing its configuration does."""
import pathlib
import re
import selectors
import socket
import sys
import time

hold = pathlib.Path(sys.argv[1]) / "hold"
config = pathlib.Path(sys.argv[-1].removeprefix("xbean:file:")).read_text()
if "stand-in-refuses" in config:
    print("2026-01-01 00:00:00,000 ERROR BrokerService - stand-in refuses this configuration", flush=True)
    sys.exit(3)
while hold.exists():
    time.sleep(0.02)
selector = selectors.DefaultSelector()
for port in re.findall(r'uri="[\w+]+://127\.0\.0\.1:(\d+)"', config):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(port)))
    server.listen()
    selector.register(server, selectors.EVENT_READ)
print("stand-in broker started", flush=True)
while True:
    for key, _ in selector.select():
        connection, _ = key.fileobj.accept()
        connection.close()
