"""``/healthz``: the process answers. ``/readyz``: it can serve a tutoring turn.

Ready means the database answers, every migration is applied, and a message sent through the
channel layer (Redis in production, shared by every worker) comes back. Not ready is a 503 whose
body lists the reasons in plain words; the exception behind each is logged, not shown. The runner
(``deploy/run``), the proxy's operator and a process manager poll these; they are exempt from the
HTTPS redirect so a probe can reach a worker directly.
"""

from __future__ import annotations

import asyncio
import logging
import os

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT_S = 2.0


def database_problem() -> str | None:
    """None when the database answers and has every migration applied, else why not."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        loader = MigrationExecutor(connection).loader
        # Every migration of the graph that is not recorded as applied, in the order it would run: a
        # plan to the leaf nodes would miss one left unapplied below an applied leaf.
        applied = set(loader.applied_migrations)
        pending = list(dict.fromkeys(key for leaf in loader.graph.leaf_nodes()
                                     for key in loader.graph.forwards_plan(leaf) if key not in applied))
    except Exception:
        log.exception("readiness: the database check failed")
        return "database unreachable"
    finally:
        # A probe runs in a fresh thread each time: leave no connection behind in it.
        connection.close()
    if pending:
        names = ", ".join(f"{app}.{name}" for app, name in pending[:3])
        return f"migrations not applied: {len(pending)} pending ({names}{', …' if len(pending) > 3 else ''})"
    return None


async def channel_layer_problem() -> str | None:
    """None when a message sent to a new channel comes back within the time limit, else why not."""
    layer = get_channel_layer()
    if layer is None:
        return "no channel layer configured"
    try:
        async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT_S):
            channel = await layer.new_channel("readyz.")
            await layer.send(channel, {"type": "readyz.ping", "pid": os.getpid()})
            message = await layer.receive(channel)
    except TimeoutError:
        return f"channel layer did not answer within {CHANNEL_LAYER_TIMEOUT_S:g} s"
    except Exception:
        log.exception("readiness: the channel layer check failed")
        return "channel layer unreachable"
    if message.get("type") != "readyz.ping":
        return "channel layer returned another message"
    return None


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "pid": os.getpid()})


@require_safe
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    database = await sync_to_async(database_problem, thread_sensitive=False)()
    channels = await channel_layer_problem()
    checks = {"database": database or "ok", "channel_layer": channels or "ok"}
    reasons = [r for r in (database, channels) if r]
    if reasons:
        return JsonResponse({"status": "not ready", "reasons": reasons, "checks": checks, "pid": os.getpid()},
                            status=503)
    return JsonResponse({"status": "ready", "checks": checks, "pid": os.getpid()})
