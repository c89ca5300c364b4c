"""Where a digest goes: one interface (:class:`Channel`), five services.

* ``email`` — Airflow's SMTP provider (``SmtpHook`` on the channel's Airflow connection: host, port,
  login, password, TLS settings and ``from_email`` live there), one mail with plain text and HTML;
* ``wecom`` — 企业微信 group robot: ``{"msgtype": "markdown", "markdown": {"content": …}}``, content at
  most 4,096 bytes, answer ``{"errcode": 0}``;
* ``dingtalk`` — 钉钉 robot: markdown with a title; with a secret, the URL is signed
  (``timestamp`` in ms, ``sign`` = Base64 of HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed by the
  secret); a message of at most 18,000 bytes (the service allows 20,000); answer ``{"errcode": 0}``;
* ``feishu`` — 飞书 / Lark bot: ``{"msg_type": "text", "content": {"text": …}}``; with a secret, the body
  carries ``timestamp`` (s) and ``sign`` = Base64 of HMAC-SHA256 of an empty message keyed by
  ``"{timestamp}\\n{secret}"``; a request body of at most 20 KB (text ≤ 18,000 bytes); answer ``{"code": 0}``;
* ``slack`` — a Slack-compatible incoming webhook: ``{"text": …}`` (≤ 39,000 bytes), answer ``ok``.

A send that the service refuses raises :class:`DeliveryError` with the server's answer; the
webhook URL and secrets never appear in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from kam.notify.config import ChannelSpec, resolve
from kam.notify.render import Message

LIMITS = {"wecom": 4096, "dingtalk": 18_000, "feishu": 18_000, "slack": 39_000}  # bytes per message
TIMEOUT = 15


class DeliveryError(Exception):
    """A message the service did not take, with its answer (never the URL or a secret)."""


class Channel:
    markdown = False  # whether the service renders markdown (else text is shown as it is)

    def __init__(self, spec: ChannelSpec):
        self.spec = spec

    @property
    def limit(self) -> int | None:
        return LIMITS.get(self.spec.type)

    def send(self, message: Message, addresses: tuple[str, ...]) -> str:
        """Deliver one message; return the service's answer (for the ledger)."""
        raise NotImplementedError


class EmailChannel(Channel):
    def send(self, message: Message, addresses: tuple[str, ...]) -> str:
        from email.message import EmailMessage

        from airflow.providers.smtp.hooks.smtp import SmtpHook

        try:
            with SmtpHook(self.spec.connection) as hook:
                mail = EmailMessage()
                mail["Subject"] = message.subject
                mail["From"] = self.spec.sender or hook.from_email or "kam@localhost"
                mail["To"] = ", ".join(addresses)
                mail.set_content(message.text)
                if message.html:
                    mail.add_alternative(message.html, subtype="html")
                # the hook opened the connection (host, TLS, login from the Airflow connection);
                # its send_email_smtp sends HTML only, so the message with both parts goes through its client
                refused = hook._smtp_client.send_message(mail)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - smtplib, socket and Airflow errors alike
            raise DeliveryError(f"SMTP ({self.spec.connection}): {type(exc).__name__}: {exc}") from None
        if refused:
            raise DeliveryError(f"SMTP refused {', '.join(f'{a} ({c} {m!r})' for a, (c, m) in refused.items())}")
        return f"250 accepted for {len(addresses)} address(es)"


class RobotChannel(Channel):
    def payload(self, message: Message) -> dict:
        raise NotImplementedError

    def url(self) -> str:
        return resolve(self.spec.webhook, f"channels.{self.spec.name}.webhook")

    def accepted(self, status: int, body: str) -> bool:
        try:
            answer = json.loads(body)
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("errcode", answer.get("code", answer.get("StatusCode"))) == 0

    def send(self, message: Message, addresses: tuple[str, ...]) -> str:
        data = json.dumps(self.payload(message), ensure_ascii=False).encode()
        request = urllib.request.Request(self.url(), data=data, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"{self.spec.type} robot not reachable: {getattr(exc, 'reason', exc)}") from None
        if status != 200 or not self.accepted(status, body):
            raise DeliveryError(f"{self.spec.type} robot answered HTTP {status}: {body[:300]}")
        return f"HTTP {status} {body[:200]}"

    def secret(self) -> str | None:
        if not self.spec.secret:
            return None
        return resolve(self.spec.secret, f"channels.{self.spec.name}.secret", part="password")


class WeComChannel(RobotChannel):
    markdown = True
    def payload(self, message: Message) -> dict:
        return {"msgtype": "markdown", "markdown": {"content": message.text}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(RobotChannel):
    markdown = True
    def url(self) -> str:
        url, secret = super().url(), self.secret()
        if not secret:
            return url
        now = int(time.time() * 1000)
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}timestamp={now}&sign={urllib.parse.quote_plus(dingtalk_sign(secret, now))}"

    def payload(self, message: Message) -> dict:
        return {"msgtype": "markdown", "markdown": {"title": message.subject[:60], "text": message.text}}


class FeishuChannel(RobotChannel):
    def payload(self, message: Message) -> dict:
        body: dict = {"msg_type": "text", "content": {"text": message.text}}
        secret = self.secret()
        if secret:
            now = int(time.time())
            body = {"timestamp": str(now), "sign": feishu_sign(secret, now), **body}
        return body


class SlackChannel(RobotChannel):
    def payload(self, message: Message) -> dict:
        return {"text": message.text}

    def accepted(self, status: int, body: str) -> bool:
        return body.strip() == "ok"


class AnyAnswerWebhook(SlackChannel):
    """``KAM_ALERT_WEBHOOK`` (no notify.yml): ``{"text": …}``, any HTTP 200 is taken as delivered."""

    def accepted(self, status: int, body: str) -> bool:
        return True


KINDS = {"email": EmailChannel, "wecom": WeComChannel, "dingtalk": DingTalkChannel, "feishu": FeishuChannel,
         "slack": SlackChannel}


def channel(spec: ChannelSpec) -> Channel:
    return KINDS[spec.type](spec)
