"""Refuse request bodies over a size limit with 413, before they are read into memory.

A body that declares its length is refused before the application sees it. A body
streamed without one is counted as it arrives: once over the limit, the application is
told the client went away (so it stops reading) and whatever it answers to that is
replaced by the 413. (Raising from `receive` does not work: FastAPI turns errors while
reading a body into a 400.)
"""
from __future__ import annotations

import json


class BodySizeLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    return await self._too_large(send, scope)
        received = 0
        too_large = started = False

        async def limited_receive():
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if too_large:
                return  # the application's answer to the "disconnect"; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._too_large(send, scope)

    async def _too_large(self, send, scope):
        message, media = f"request body larger than {self.max_bytes} bytes", b"application/json"
        if scope.get("path", "").startswith("/fhir"):  # FHIR clients get an OperationOutcome
            from pv_service.fhir.outcome import fhir_refusal

            body, media = fhir_refusal([((), message)], "too-costly"), b"application/fhir+json"
        else:
            body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
