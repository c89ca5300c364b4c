"""A digest as people read it: bilingual (中文 / English, as the marts' labels), plain text and HTML
for mail, markdown for the chat robots; split into parts that each fit a channel's limit (a long
digest is sent in numbered parts, never cut short)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from kam.notify.config import LEADERSHIP
from kam.notify.digest import ALERT_LABELS, DIMENSIONS, Digest, Item


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # plain text (mail) or markdown (robots)
    html: str | None = None  # mail only
    part: int = 1
    parts: int = 1


def _money(value: float) -> str:
    return f"¥{value:,.0f}"


def _who(digest: Digest) -> str:
    return "管理层 leadership" if digest.recipient == LEADERSHIP else digest.recipient


def subject(digest: Digest) -> str:
    worse = sum(1 for i in digest.items if i.news == "worse")
    count = len(digest.items) + digest.more
    return (f"kam 客户预警 / key-account warnings {digest.month:%Y-%m} — {_who(digest)}: "
            f"{count} 条新增或加重 / new or worse" + (f" ({worse} 加重 / worse)" if worse else ""))


def _driver_text(item: Item) -> str:
    if not item.driver:
        return ""
    dimension, change = item.driver.split(" ", 1)
    return f"{DIMENSIONS.get(dimension, dimension)} {dimension} score {change}"


def _driver(item: Item) -> str | None:
    return f"主要因素 / main driver: {_driver_text(item)}" if item.driver else None


def _lines(item: Item, n: int) -> list[str]:
    zh, en = ALERT_LABELS.get(item.alert_type, (item.alert_type, item.alert_type))
    news = "新 new" if item.news == "new" else "加重 worse"
    out = [f"{n}. {item.customer_id} {item.customer_name} — {item.tier_label_zh} / {item.tier_label_en} — "
           f"收入 revenue {_money(item.revenue)}",
           f"   {zh} / {en} [{news}]: {item.reason}"]
    driver = _driver(item)
    return out + ([f"   {driver}"] if driver else [])


def _footer(digest: Digest, report: str) -> list[str]:
    lines = []
    if digest.more:
        lines.append(f"另有 {digest.more} 条未列出，见报告 / {digest.more} more in the report: {report}")
    lines.append(f"本月共 {digest.open_alerts} 条预警 / {digest.open_alerts} alerts this month in all "
                 f"(publication #{digest.publication_id}); 报告 / report: {report}")
    return lines


def text_blocks(digest: Digest) -> list[str]:
    return ["\n".join(_lines(item, n)) for n, item in enumerate(digest.items, 1)]


def mail(digest: Digest, report: str) -> Message:
    """One mail: plain text and HTML with the same content."""
    text = "\n\n".join([subject(digest), *text_blocks(digest), "\n".join(_footer(digest, report))]) + "\n"
    rows = []
    for n, item in enumerate(digest.items, 1):
        zh, en = ALERT_LABELS.get(item.alert_type, (item.alert_type, item.alert_type))
        driver = _driver_text(item)
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                n, f"{item.customer_id} {item.customer_name}", f"{item.tier_label_zh} / {item.tier_label_en}",
                _money(item.revenue), f"{zh} / {en}", "新 new" if item.news == "new" else "加重 worse",
                item.reason, driver)) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("#", "客户 customer", "等级 tier", "收入 revenue", "预警 alert",
                                             "新/加重 news", "原因 reason", "主要因素 main driver"))
    style = ("body{font-family:'Microsoft YaHei','PingFang SC','Noto Sans CJK SC',sans-serif;font-size:14px}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}"
             "th{background:#f2f2f2}td:nth-child(4){text-align:right;white-space:nowrap}")
    body = (f"<html><head><meta charset=\"utf-8\"><style>{style}</style></head><body>"
            f"<h2>{html.escape(subject(digest))}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"
            + "".join(f"<p>{_linked(html.escape(line), report)}</p>" for line in _footer(digest, report))
            + "</body></html>")
    return Message(subject(digest), text, body)


def _linked(line: str, report: str) -> str:
    """The report's address as a link (a URL, or a local file as file://)."""
    target = report if report.startswith(("http://", "https://")) else f"file://{report}"
    return line.replace(html.escape(report), f'<a href="{html.escape(target)}">{html.escape(report)}</a>')


def chat(digest: Digest, report: str, limit_bytes: int, markdown: bool = True) -> list[Message]:
    """Robot messages of at most ``limit_bytes`` (UTF-8) each, in numbered parts when one is not enough;
    the title in bold for a robot that renders markdown, plain for one that shows text as it is."""
    head = f"**{subject(digest)}**" if markdown else subject(digest)
    blocks = text_blocks(digest) + ["\n".join(_footer(digest, report))]
    reserve = len(b" (part 99/99)") + 2

    def size(text: str) -> int:
        return len(text.encode())

    parts: list[list[str]] = [[]]
    for block in blocks:
        for piece in _pieces(block, limit_bytes - size(head) - reserve - 2):
            current = parts[-1]
            if current and size("\n\n".join([head, *current, piece])) + reserve > limit_bytes:
                parts.append([])
            parts[-1].append(piece)
    total = len(parts)
    out = []
    for n, blocks_of_part in enumerate(parts, 1):
        title = head if total == 1 else f"{head} (part {n}/{total})"
        out.append(Message(subject(digest), "\n\n".join([title, *blocks_of_part]), None, n, total))
    return out


def _pieces(block: str, room: int) -> list[str]:
    """A block that alone exceeds ``room`` bytes, in pieces that fit (cut between characters)."""
    if len(block.encode()) <= room:
        return [block]
    pieces, current = [], ""
    for ch in block:
        if len((current + ch).encode()) > room:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current] if current else pieces


def ops_text(title: str, lines: list[str]) -> Message:
    return Message(title, "\n".join([title, *lines]), None)
