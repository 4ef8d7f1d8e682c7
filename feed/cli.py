"""`flask feed ...`: consume the upstream, run a simulated one, record it, replay a recording,
prune the database."""

import asyncio
import json
import logging
import signal
import sys
import threading
import time
from urllib.parse import urlsplit

import click
import websocket
from flask import Blueprint, current_app

from feed.bus.transport import BusError, RedisBus
from feed.consumer import Consumer
from feed.simulator import server as simulator
from feed.upstream.client import feed_url

bp = Blueprint("feed_cli", __name__, cli_group="feed")
log = logging.getLogger(__name__)
bp.cli.help = bp.cli.short_help = (
    "Consume the upstream feed; simulate it, record it, replay it; prune its tables."
)
POSITIVE = click.FloatRange(min=0, min_open=True)
SWITCH_INTERVAL_S = 0.0005  # how often the feed process's threads hand the interpreter over


def tcp_port(context, param, value):
    """A port to listen on: 1 to 65535, or 0 for any free one; said in one line otherwise."""
    if not 0 <= value <= 65535:
        # A ClickException, not a usage error: one line, without the usage around it.
        raise click.ClickException(
            f"--port {value} is not a port: pick one from 1 to 65535 (0: any free one)"
        )
    return value


@bp.cli.command("consume")
def consume():
    """Be the one consumer of FEED_URL, publishing to the web workers through REDIS_URL.

    Several may run: one leads, the others stand by and take over within the lease (5 s). On
    SIGTERM or Ctrl-C a leader disconnects, writes what is pending and hands over at once.
    """
    config = current_app.config
    if not config["REDIS_URL"]:
        raise click.UsageError(
            "feed consume needs REDIS_URL: without it the web process consumes the feed itself"
        )
    if not config["FEED_URL"]:
        log.warning("no FEED_URL: leading publishes the last known board, suspended")
    # The client's thread applies a burst of frames in CPU-bound steps while the outlet's thread
    # publishes them: each of the outlet's many socket calls to Redis waits for the interpreter
    # lock, which the other thread gives up only every switch interval (5 ms by default). A
    # burst's publishing then stalls for up to a second, and the web workers read that silence
    # as the link down. Handed over ten times as often, no silence in the deployed burst
    # benchmark outlasted the 0.25 s between heartbeats.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    consumer = Consumer(current_app._get_current_object(), bus=RedisBus.from_config(config))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    consumer.start()
    log.info("feed consumer %s started", consumer.identity)
    while not stopping.wait(1):
        pass
    consumer.stop()
    log.info("feed consumer %s stopped", consumer.identity)


@bp.cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Every process's whole report, as JSON.")
def status(as_json):
    """Print one line per feed process reporting through REDIS_URL: role, epoch, upstream, lag.

    The feed processes serve no HTTP; this (or /feed/status on any web worker, under
    `consumers`) is where their roles show. --json prints their whole reports (without the
    metrics text they pass to /metrics).
    """
    config = current_app.config
    if not config["REDIS_URL"]:
        raise click.UsageError("no REDIS_URL: the web process is the consumer; see /feed/status")
    bus = RedisBus.from_config(config)
    try:
        epoch, seq = bus.last()
        reports = [
            {key: value for key, value in report.items() if key != "metrics"}
            for report in bus.reports()
        ]
    except BusError as exc:
        raise click.ClickException(f"Redis unreachable: {exc}") from None
    if as_json:
        click.echo(json.dumps({"epoch": epoch, "seq": seq, "consumers": reports}, indent=2))
        return
    if not reports:
        click.echo("no feed process reporting: is `flask --app app feed consume` running?")
    width = max((len(str(report.get("id"))) for report in reports), default=0)
    for report in reports:
        click.echo(process_line(report, width))


def process_line(report, width):
    """One feed process's report in a line: id, role, epoch, upstream, lag."""
    lag = report.get("lag") or {}
    upstream = "connected" if report.get("upstream") else "not connected"
    epoch = report.get("epoch")
    return (
        f"{report.get('id')!s:<{width}}  {report.get('role')!s:<7}  "
        f"epoch {'-' if epoch is None else epoch}  upstream {upstream:<13}  "
        f"lag {lag.get('messages', 0)} messages, {lag.get('ms', 0)} ms"
    )


@bp.cli.command("simulate")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8765, show_default=True, callback=tcp_port)
@click.option(
    "--rate",
    type=POSITIVE,
    default=20.0,
    show_default=True,
    help="Odds changes a second (BetStops, about one a second, and the rest besides).",
)
@click.option("--seed", type=int, default=None, help="Make the simulation repeatable.")
@click.option("--outage-every", default=180.0, show_default=True, help="Seconds; 0 for none.")
def simulate(host, port, rate, seed, outage_every):
    """Serve a simulated upstream feed at ws://HOST:PORT/ws."""
    asyncio.run(simulator.simulate(host, port, rate, seed, outage_every))


@bp.cli.command("record")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--url", default=None, help="Defaults to FEED_URL.")
@click.option("--seconds", type=float, default=None, help="Stop after this long.")
def record(file, url, seconds):
    """Save what the upstream sends to FILE (JSON lines, with timing)."""
    config = current_app.config
    url = feed_url(url or config["FEED_URL"], config["FEED_TOKEN"], config["FEED_LANG"])
    if not url:
        raise click.UsageError("no --url and no FEED_URL")
    parts = urlsplit(url)
    given = parts._replace(query="").geturl()  # the token stays out of messages
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise click.BadParameter(
            f"must be a ws:// or wss:// URL, not {given!r}", param_hint="--url"
        )
    try:
        ws = websocket.create_connection(url, timeout=10)
    except (OSError, websocket.WebSocketException) as exc:
        raise click.ClickException(f"cannot connect to {given}: {exc}") from None
    ws.settimeout(1)
    start = time.monotonic()
    count = 0
    with open(file, "w", encoding="utf-8") as out:
        while seconds is None or time.monotonic() - start < seconds:
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketConnectionClosedException:
                break
            out.write(simulator.record_line(raw, time.monotonic() - start) + "\n")
            count += 1
    ws.close()
    click.echo(f"recorded {count} frames to {file}")


@bp.cli.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8765, show_default=True, callback=tcp_port)
@click.option("--speed", type=POSITIVE, default=1.0, show_default=True, help="2.0: twice as fast.")
def replay(file, host, port, speed):
    """Serve the recording FILE as an upstream feed at ws://HOST:PORT/ws."""
    try:
        asyncio.run(simulator.replay(host, port, file, speed))
    except simulator.RecordingError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None


@bp.cli.command("prune")
@click.option(
    "--days", type=click.FloatRange(min=0), default=None, help="Defaults to FEED_RETENTION_DAYS."
)
@click.option("--yes", is_flag=True, help="Prune under a day (--days below 1) all the same.")
def prune(days, yes):
    """Delete BetStops, closed lines and finished events older than the retention."""
    if days is not None and days < 1 and not yes:
        # Under a day takes the BetStops a running board shows, and those a restart applies
        # again: a slip of the keyboard more often than a wish.
        raise click.ClickException(
            f"--days {days:g} is under a day: it deletes the BetStop log a running board shows;"
            " pass --yes to do it anyway"
        )
    deleted = current_app.extensions["feed"].store.prune(days)
    click.echo(
        f"pruned {deleted['bet_stops']} BetStops, {deleted['lines']} closed lines, "
        f"{deleted['events']} events"
    )
