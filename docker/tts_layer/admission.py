"""The ASGI wrapper around upstream's FastAPI app, on the clients' port.

- A speech request (POST /v1/audio/speech, POST /tts) is admitted only while serving; otherwise,
  and when a park aborts it mid-synthesis (ParkAbort), it answers 503 with Retry-After and a JSON
  `detail`, before any byte of audio: nothing is half-sent, and upstream writes outputs/ only
  after a whole synthesis, so nothing is half-written there either.
- Upstream's POST /api/unload and POST /restart_server are answered 409 unless serving: they
  would drop or replace the model a park is moving or has parked.
- Every speech request is counted by status code (tts_server_requests_total).
Everything else passes through untouched, lifespan included.
"""

from __future__ import annotations

import json

from .metrics import ServerMetrics
from .parking import Controller, ParkAbort
from .upstream import MODEL_ROUTES, SPEECH_ROUTES


class AdmissionApp:
    def __init__(self, app, controller: Controller, metrics: ServerMetrics) -> None:
        self.app = app
        self.controller = controller
        self.metrics = metrics

    async def respond(self, send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def unavailable(self, send) -> None:
        retry = self.controller.retry_after_seconds
        detail = f"the server is {self.controller.phase.value}: its GPU is lent to other tenants; retry after {retry} s"
        await self.respond(send, 503, detail, [(b"retry-after", str(retry).encode())])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = (scope.get("method", ""), scope.get("path", ""))
        if route in MODEL_ROUTES and not self.controller.admitting():
            await self.respond(send, 409, f"the server is {self.controller.phase.value}: {route[1]} is refused until it serves again")
            return
        if route not in SPEECH_ROUTES:
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def counted_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if not self.controller.admitting():
                await self.unavailable(counted_send)
                return
            try:
                await self.app(scope, receive, counted_send)
            except ParkAbort:
                if status["code"]:
                    raise  # the response had begun (not upstream's way: it synthesizes first); let the server cut it
                await self.unavailable(counted_send)
        finally:
            self.metrics.requests.labels(route[1], str(status["code"] or 500)).inc()
