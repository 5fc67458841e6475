"""A mail catcher for the embedded stack only: every mail the worker and the desks send is
kept under the state directory and shown on a small read-only page on the loopback.

Development only. `demo.py` starts it when it starts the embedded stack and no SMTP server is
configured (`PACTE_SMTP_HOST` unset), and points the worker and `portal.py` at it; nothing
else starts it, so a deployment, which configures its own SMTP server, never runs it. Both
of its ports listen on 127.0.0.1 and nothing it receives is relayed anywhere.

    python -m devkit.mail_catcher DIRECTORY [--smtp-port 1025] [--web-port 8025]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import re
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
BANNER = (
    "Development mail catcher: embedded stack only. These mails were sent to the addresses "
    "below and caught on this machine; none left it."
)
_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9]{6}\.eml$")
_URL = re.compile(r"https?://[^\s<>\"')]+")
_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    ".banner{background:#fff3cd;border:1px solid #c9a227;padding:.6em 1em;margin-bottom:1em}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em;"
    "text-align:start;vertical-align:top}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}"
)


class MailStore:
    """Mails kept as .eml files, one per message, named by arrival."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._sequence = count(1)
        self._lock = threading.Lock()

    def keep(self, content: bytes) -> str:
        """Write one message; return its name."""
        with self._lock:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = f"{stamp}-{next(self._sequence):06d}.eml"
            while (self.directory / name).exists():  # a catcher restarted within the second
                name = f"{stamp}-{next(self._sequence):06d}.eml"
            (self.directory / name).write_bytes(content)
        return name

    def names(self) -> list[str]:
        """Every kept message, newest first."""
        return sorted(
            (path.name for path in self.directory.glob("*.eml") if _NAME.match(path.name)),
            reverse=True,
        )

    def read(self, name: str) -> EmailMessage | None:
        """One kept message by name; None for a name it never gave."""
        if not _NAME.match(name) or not (self.directory / name).is_file():
            return None
        message = email.message_from_bytes(
            (self.directory / name).read_bytes(), policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        return message


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return None
    content: Any = body.get_content()
    return content if isinstance(content, str) else None


def _linked(text: str) -> str:
    """Escaped text whose http(s) addresses are links."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f'</title><style>{_STYLE}</style></head><body><p class="banner" role="note">'
        f"{html.escape(BANNER)}</p>{body}</body></html>"
    ).encode()


def listing_page(store: MailStore) -> bytes:
    """Every caught mail, newest first."""
    rows = []
    for name in store.names():
        message = store.read(name)
        if message is None:
            continue
        rows.append(
            f"<tr><td>{html.escape(str(message.get('Date', '')))}</td>"
            f"<td>{html.escape(str(message.get('To', '')))}</td>"
            f'<td><a href="/mail/{name}">{html.escape(str(message.get("Subject", "")))}</a>'
            "</td></tr>"
        )
    table = (
        "<table><thead><tr><th>date</th><th>to</th><th>subject</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No mail yet.</p>"
    )
    return _page("Mails sent", f"<h1>Mails sent ({len(rows)})</h1>{table}")


def message_page(name: str, message: EmailMessage) -> bytes:
    """One mail: its headers, its text with the links clickable, its HTML version."""
    headers = "".join(
        f"<tr><th>{field}</th><td>{html.escape(str(message.get(field, '')))}</td></tr>"
        for field in ("From", "To", "Subject", "Date", "Content-Language")
    )
    text = _part(message, "plain")
    html_version = (
        f'<p><a href="/mail/{name}/html">The HTML version</a></p>'
        if _part(message, "html") is not None
        else ""
    )
    body = f"<pre>{_linked(text)}</pre>" if text is not None else "<p>(no text part)</p>"
    return _page(
        str(message.get("Subject", name)),
        f'<p><a href="/">All mails</a></p><table>{headers}</table>{html_version}{body}',
    )


class _Handler(BaseHTTPRequestHandler):
    store: MailStore

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, listing_page(self.store))
            return
        parts = path.strip("/").split("/")
        message = self.store.read(parts[1]) if len(parts) in {2, 3} and parts[0] == "mail" else None
        if message is None:
            self._send(404, _page("Not found", "<h1>Not found</h1>"))
        elif len(parts) == 2:
            self._send(200, message_page(parts[1], message))
        elif parts[2] == "html" and (content := _part(message, "html")) is not None:
            # The mail's own HTML, as a mail client shows it: no script, no request anywhere
            # but a click on one of its links.
            self._send(
                200,
                content.encode(),
                csp="sandbox allow-popups allow-top-navigation-by-user-activation; "
                "default-src 'none'; style-src 'unsafe-inline'",
            )
        else:
            self._send(404, _page("Not found", "<h1>Not found</h1>"))

    def _send(self, status: int, body: bytes, *, csp: str | None = None) -> None:
        self.send_response(status)
        for name, value in _PAGE_HEADERS.items():
            self.send_header(name, csp if name == "Content-Security-Policy" and csp else value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the page is read by one developer."""


class MailCatcher:
    """The SMTP server and the page, each on its own loopback port, in background threads."""

    def __init__(self, directory: Path, *, smtp_port: int, web_port: int) -> None:
        self.store = MailStore(directory)
        self.smtp_port = smtp_port
        self.web_port = web_port
        self._controller: Any = None
        self._web: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where the page is."""
        return f"http://{HOST}:{self.web_port}"

    def start(self) -> MailCatcher:
        """Listen on both ports; returns once both accept connections."""
        from aiosmtpd.controller import Controller  # the dev extra: only this catcher needs it

        store = self.store

        class _Keep:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                store.keep(bytes(envelope.original_content or envelope.content))
                return "250 Message accepted for delivery"

        self._controller = Controller(_Keep(), hostname=HOST, port=self.smtp_port)
        self._controller.start()
        handler = type("Handler", (_Handler,), {"store": store})
        self._web = ThreadingHTTPServer((HOST, self.web_port), handler)
        self._web.daemon_threads = True
        threading.Thread(target=self._web.serve_forever, name="mail-page", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close both ports."""
        if self._web is not None:
            self._web.shutdown()
            self._web.server_close()
            self._web = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def main(argv: list[str] | None = None) -> int:
    """Run the catcher alone until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m devkit.mail_catcher")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--web-port", type=int, default=8025)
    args = parser.parse_args(argv)
    catcher = MailCatcher(args.directory, smtp_port=args.smtp_port, web_port=args.web_port)
    catcher.start()
    print(f"SMTP on {HOST}:{args.smtp_port}; mails at {catcher.url} (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
