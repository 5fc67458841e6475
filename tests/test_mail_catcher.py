"""The embedded stack's mail catcher: it keeps what it is sent and shows it, read-only, safely."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx

from devkit.mail_catcher import MailCatcher
from devkit.stack import free_port


def _mail(subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "pacte@localhost"
    message["To"] = "Rémi Cabon <remi.cabon@psa.example>"
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def test_caught_mails_are_listed_their_links_clickable_and_nothing_runs(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "mail", smtp_port=free_port(), web_port=free_port()).start()
    try:
        link = "http://127.0.0.1:8300/t/abc_DEF-123"
        with smtplib.SMTP("127.0.0.1", catcher.smtp_port, timeout=10) as smtp:
            smtp.send_message(
                _mail(
                    "<b>Nouvelle tâche</b> : مراجعة",
                    f"Votre lien personnel :\n{link}\n<script>alert(1)</script>",
                    f'<p><a href="{link}">ouvrir</a></p><script>alert(1)</script>',
                )
            )
        with httpx.Client(base_url=catcher.url, timeout=10) as http:
            listing = http.get("/")
            assert listing.status_code == 200
            assert "Development mail catcher: embedded stack only" in listing.text
            assert "&lt;b&gt;Nouvelle tâche&lt;/b&gt; : مراجعة" in listing.text
            assert "<b>" not in listing.text
            (path,) = [line.split('"')[1] for line in listing.text.split("href=")[1:]]
            page = http.get(path)
            assert f'<a href="{link}">{link}</a>' in page.text
            assert "<script>" not in page.text and "&lt;script&gt;" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
            original = http.get(f"{path}/html")
            assert original.status_code == 200 and f'href="{link}"' in original.text
            assert original.headers["content-security-policy"].startswith("sandbox")
            for wrong in ("/mail/nothing.eml", "/mail/..%2f..%2fetc%2fpasswd", "/other", "/mail"):
                assert http.get(wrong).status_code == 404, wrong
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    finally:
        catcher.stop()
