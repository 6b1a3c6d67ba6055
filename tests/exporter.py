"""A loopback exporter: serves exposition text (or JSON for the Prometheus API, or the TTS
server's endpoints) as told.

It answers like the real exporters (status 200, `text/plain; version=0.0.4; charset=utf-8`)
and can misbehave on demand: another status, a delay before answering, a body that trickles
(in pieces of any size, down to a byte), headers that trickle, a connection closed without an
answer, and answers that change from one request to the next (`cycle`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback import LoopbackHandler, LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    content_type: str = TEXT_FORMAT
    delay_seconds: float = 0.0
    trickle_seconds: float = 0.0  # pause between `piece`-sized pieces of the body
    piece: int = 1024
    header_trickle_seconds: float = 0.0  # pause between the bytes of the status line and headers
    drop: bool = False


@dataclass
class FakeExporter(LoopbackServer):
    url_path = "/metrics"  # `url`: where the exporters serve; `base_url` for the other paths
    answers: dict[str, Answer] = field(default_factory=dict)  # by path; "/metrics" by default
    queries: list[str] = field(default_factory=list)  # Prometheus `query` parameters seen
    by_query: dict[str, Answer] = field(default_factory=dict)
    posted: list[bytes] = field(default_factory=list)  # bodies of POSTs (the TTS server's speech requests)
    # Answers served in turn, one per request, round and round (a resident that swings).
    cycle: dict[str, list[Answer]] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)

    def serve(self, body: bytes | str, path: str = "/metrics", **kwargs: Any) -> None:
        self.answers[path] = Answer(body.encode() if isinstance(body, str) else body, **kwargs)

    def __post_init__(self) -> None:
        exporter = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                exporter.posted.append(self.read_body())
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query).get("query", [None])[0]
                if query is not None:
                    exporter.queries.append(query)
                answer = exporter.by_query.get(query or "") or exporter.answers.get(parts.path)
                if parts.path in exporter.cycle:
                    turn = exporter.served.get(parts.path, 0)
                    exporter.served[parts.path] = turn + 1
                    answer = exporter.cycle[parts.path][turn % len(exporter.cycle[parts.path])]
                if answer is None:
                    answer = Answer(b"404 page not found\n", status=404)
                if answer.delay_seconds:
                    time.sleep(answer.delay_seconds)
                if answer.drop:
                    self.drop()
                    return
                if answer.header_trickle_seconds:
                    headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
                    self.trickle(self.raw_head(answer.status, headers, phrase="OK"), answer.header_trickle_seconds)
                else:
                    self.send_head(answer.status, answer.content_type, len(answer.body))
                if answer.trickle_seconds:
                    self.trickle(answer.body, answer.trickle_seconds, answer.piece)
                else:
                    self.wfile.write(answer.body)

        self.listen(Handler)
