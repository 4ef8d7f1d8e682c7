"""The two servers the relay is compared with, doing the same fan-out of the same upstream.

- Flask-SocketIO on gunicorn + gevent (the usual way to push from Flask):
      gunicorn -c python:bench.peers 'bench.peers:socketio_app("ws://upstream")'
  every upstream frame is emitted to every connected client as a `feed` event.
- The `websockets` library's asyncio server and its `broadcast()`:
      python -m bench.peers PORT UPSTREAM_URL
  every upstream frame is broadcast as it came.

Neither keeps a market state: they only forward, which is the part being compared.
"""

import asyncio
import json
import sys

# gunicorn's settings when this module is its config (-c python:bench.peers): those of the relay.
worker_class = "gevent"
worker_connections = 10000


def socketio_app(upstream):
    """A Flask app whose only job is to emit every upstream frame to every Socket.IO client."""
    import websocket
    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="gevent")

    def pump():
        connection = websocket.create_connection(upstream, enable_multithread=False)
        while True:
            raw = connection.recv()
            socketio.emit("feed", json.loads(raw))

    socketio.start_background_task(pump)
    return app


async def broadcast_server(port, upstream):
    """Relay every upstream frame to every client with `websockets.broadcast()`."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import broadcast, serve

    clients = set()

    async def handler(websocket):
        await websocket.send('{"type":"hello"}')  # tells the client it is in, like a snapshot
        clients.add(websocket)
        try:
            await websocket.wait_closed()
        finally:
            clients.discard(websocket)

    async with (
        serve(handler, "127.0.0.1", port, compression=None, max_queue=None),
        connect(upstream, compression=None) as feed,
    ):
        async for raw in feed:
            broadcast(clients, raw)


if __name__ == "__main__":
    asyncio.run(broadcast_server(int(sys.argv[1]), sys.argv[2]))
