"""Citizens on the web chat (/chat/<org>) for bench/e2e_http.py: the same process as the Telegram
bot (`python -m bot serve --telegram-polling`, one process on SQLite as it is deployed), each
citizen filing an anonymous tip-off with a photo and a place over HTTP, one form at a time: as a
browser with JavaScript does (htmx posts the form and the answer is the conversation, one request
a step), or, with `javascript=False`, as one without (post, then the page again).

Each citizen comes from its own loopback address (127.0.1.N), as people do from their own phones:
the server's per-address limits then apply to each as they would in the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import ClientSession, CookieJar, FormData, TCPConnector

WEB_TIP = "ผู้รับเหมาจ่ายเงินใต้โต๊ะให้เจ้าหน้าที่กองช่างเพื่อให้ตรวจรับงานถนนที่ยังสร้างไม่เสร็จ"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # a 16 KB picture's worth of bytes
# (what the citizen does, its value, what the page then shows)
WEB_STEPS: tuple[tuple[str, str, str], ...] = (
    ("text", WEB_TIP, "เรื่องนี้น่าจะเป็น"),
    ("press", "ใช่ ถูกต้อง", "มีใครเกี่ยวข้อง"),
    ("file", "receipt.png", "ได้รับไฟล์แล้ว"),
    ("location", "18.7883 98.9853", "สรุปเรื่องที่จะแจ้ง"),
    ("press", "ส่งโดยไม่เปิดเผยชื่อ", "รับเรื่องของท่านเรียบร้อยแล้ว"),
)
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
BUTTON = re.compile(r'<button type="submit" name="press" value="([^"]*)">([^<]*)</button>')


@dataclass
class WebFigures:
    steps: list[float] = field(default_factory=list)  # a form posted -> the page after it, s
    by_step: dict[str, list[float]] = field(default_factory=dict)  # the same, per step of WEB_STEPS
    opened: list[float] = field(default_factory=list)  # the first page, s
    posted_at: list[tuple[float, float]] = field(default_factory=list)  # (time.monotonic(), took), s
    filed: int = 0
    problems: list[str] = field(default_factory=list)


async def web_citizen(
    base: str, n: int, think: tuple[float, float], seed: int, figures: WebFigures, *, javascript: bool = True
) -> None:
    rng = random.Random(seed + n)
    headers = {"HX-Request": "true"} if javascript else {}
    address = f"127.0.{1 + n // 250}.{1 + n % 250}"
    connector = TCPConnector(local_addr=(address, 0))
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), connector=connector) as http:
        started = time.monotonic()
        async with http.get(f"{base}/chat/CM") as answer:
            page = await answer.text()
        figures.opened.append(time.monotonic() - started)
        for kind, value, expected in WEB_STEPS:
            await asyncio.sleep(rng.uniform(*think))
            form = FormData()
            nonce = NONCE.search(page)
            form.add_field("nonce", nonce.group(1) if nonce else "")
            if kind == "text":
                form.add_field("text", value)
            elif kind == "press":
                pressed = next(
                    (v for v, label in BUTTON.findall(page) if value in html.unescape(label)), None
                )
                if pressed is None:
                    figures.problems.append(f"web citizen {n}: no button {value!r}")
                    return
                form.add_field("press", html.unescape(pressed))
            elif kind == "file":
                form.add_field("file", PNG, filename=value, content_type="image/png")
            else:
                lat, lon = value.split()
                form.add_field("lat", lat)
                form.add_field("lon", lon)
            started = time.monotonic()
            async with http.post(f"{base}/chat/CM", data=form, headers=headers) as answer:
                page = await answer.text()
                status = answer.status
            took = time.monotonic() - started
            figures.steps.append(took)
            figures.posted_at.append((started, took))
            figures.by_step.setdefault(f"{kind} {value[:12]}", []).append(took)
            if status != 200 or expected not in page:
                figures.problems.append(f"web citizen {n}: {kind} answered {status} without {expected!r}")
                return
        figures.filed += 1


@contextlib.asynccontextmanager
async def web_load(
    base: str,
    citizens: int,
    think: tuple[float, float],
    seed: int,
    figures: WebFigures,
    *,
    javascript: bool = True,
) -> AsyncIterator[asyncio.Task[None]]:
    """`citizens` web citizens of the server at `base`, starting within the first second (after one
    untimed warm-up citizen); yields the task that ends when every one has filed (or failed)."""
    await web_citizen(base, citizens, (0.0, 0.0), seed, WebFigures(), javascript=javascript)

    async def everyone() -> None:
        async def one(n: int) -> None:
            await asyncio.sleep(random.Random(seed - n).uniform(0, 1))
            await web_citizen(base, n, think, seed, figures, javascript=javascript)

        await asyncio.gather(*(one(n) for n in range(citizens)))

    task = asyncio.create_task(everyone())
    try:
        yield task
        await task
    finally:
        task.cancel()
