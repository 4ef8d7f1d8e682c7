"""Forward every TCP connection made to one address to another, byte for byte, until killed.

    python tests/tcp_forward.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT

Run by tests/network_path.py on either side of a virtual link, so that a test can cut the link
and the application's connection loses its packets without either end closing anything.
"""

import contextlib
import socket
import sys
import threading


def pump(source, sink):
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def main(listen_host, listen_port, target_host, target_port):
    server = socket.create_server((listen_host, int(listen_port)))
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection((target_host, int(target_port)), timeout=5)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


if __name__ == "__main__":
    main(*sys.argv[1:])
