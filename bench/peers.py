"""The servers the relay is compared with, doing the same fan-out of the same upstream.

- Flask-SocketIO on gunicorn + gevent (the usual way to push from Flask):
      gunicorn -c python:bench.peers 'bench.peers:socketio_app("ws://upstream")'
  every upstream frame is emitted to every connected client as a `feed` event.
- Flask-SocketIO with its Redis message queue, as one would run it on several workers: the
  workers (`socketio_app(None, "redis://...", channel)`) and one emitting process
      python -m bench.peers emit UPSTREAM_URL REDIS_URL CHANNEL
  that reads the upstream and emits every frame through Redis.
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


def socketio_app(upstream, message_queue=None, channel="flask-socketio"):
    """A Flask app whose only job is to emit every upstream frame to every Socket.IO client.

    With a message queue it emits what the emitting process publishes there instead.
    """
    import websocket
    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="gevent", message_queue=message_queue, channel=channel)
    if message_queue:
        return app

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


def emit_through(upstream, message_queue, channel):
    """Read the upstream and emit every frame to the Socket.IO workers through the queue."""
    import websocket
    from flask_socketio import SocketIO

    socketio = SocketIO(message_queue=message_queue, channel=channel)
    connection = websocket.create_connection(upstream, enable_multithread=False)
    while True:
        socketio.emit("feed", json.loads(connection.recv()))


if __name__ == "__main__":
    if sys.argv[1] == "emit":
        emit_through(*sys.argv[2:5])
    else:
        asyncio.run(broadcast_server(int(sys.argv[1]), sys.argv[2]))
