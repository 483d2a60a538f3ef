"""A real SMTP server on localhost that can hold one message back: `holding_smtp()`.

The shared Airflow (conftest.py) sends its alerts here. The server stops answering at the
`hold`-th MAIL FROM until the test sets `release` (or `HOLD_SECONDS` pass), so a test can kill
the worker that is sending while a message is in flight. A message counts as delivered once its
DATA is accepted (250), as for any SMTP server; the held one has sent no DATA yet when its
client dies.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes

from aiosmtpd.controller import Controller

from partnerops.airflow_runtime import free_port

#: The longest the server holds a message back; the client's timeout is the same.
HOLD_SECONDS = 600
#: The message (1-based) the shared Airflow's server holds back (conftest.py `smtp`).
HELD_MESSAGE = 2


class HoldingSmtp:
    """An SMTP sink that stops answering at the `hold`-th MAIL FROM until `release` is set."""

    def __init__(self, hold: int | None) -> None:
        self.hold = hold
        self.messages: list[tuple[tuple[str, ...], str]] = []  # (recipients, the message without its Date)
        self.mail_commands = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd's hook)
        self.mail_commands += 1
        if self.mail_commands == self.hold:
            self.holding.set()
            for _ in range(HOLD_SECONDS * 10):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.1)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook)
        message = message_from_bytes(envelope.content)
        del message["Date"], message["Message-ID"]
        self.messages.append((tuple(envelope.rcpt_tos), message.as_string()))
        return "250 OK"


@contextmanager
def holding_smtp(hold: int | None = None) -> Iterator[tuple[HoldingSmtp, str]]:
    """The running server and its `PARTNEROPS_SMTP_URL`; stopped (and any held message let go) on exit."""
    handler, port = HoldingSmtp(hold), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, (f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true&retry_limit=0"
                        f"&timeout={HOLD_SECONDS}")
    finally:
        handler.release.set()
        controller.stop()
