"""A citizen on the web chat, through its pages over HTTP (aiohttp's test client): what they read
is the page, what they do is the page's own forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

LINE = re.compile(
    r'<li class="from-(bot|citizen)"[^>]*>\s*<span class="who">[^<]*</span>\s*<p>(.*?)</p>', re.S
)
BUTTON = re.compile(r'<button type="submit" name="press" value="([^"]*)">([^<]*)</button>')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
REFERENCE = re.compile(r"(?:เลขที่เรื่อง|Reference): ([A-Z]+-\d{4}-\d{6})")
CODE = re.compile(r"(?:รหัสติดตาม|Tracking code): ([\d ]{16,})")


async def file_tip_off(citizen: WebCitizen) -> tuple[str, str]:
    """An anonymous tip-off with a photo and a location, as a citizen files it; (reference, code)."""
    await citizen.say("ผู้รับเหมาจ่ายเงินใต้โต๊ะให้เจ้าหน้าที่กองช่างเพื่อให้ตรวจรับงานถนนที่ยังสร้างไม่เสร็จ")
    await citizen.press("ใช่ ถูกต้อง")
    await citizen.send_file("receipt.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
    await citizen.share_location(18.7883, 98.9853)
    assert "รับเรื่องของท่านเรียบร้อยแล้ว" in await citizen.press("ส่งโดยไม่เปิดเผยชื่อ")
    return citizen.receipt()


@dataclass
class WebCitizen:
    client: TestClient[Any, Any]
    org: str = "CM"
    headers: dict[str, str] = field(default_factory=dict)
    html: str = ""
    status: int = 0
    # the Set-Cookie headers of the last post's answers (the post's own and the page's after it)
    set_cookies: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/chat/{self.org}"

    async def open(self, query: str = "") -> str:
        response = await self.client.get(self.path + query, headers=self.headers)
        self.status, self.html = response.status, await response.text()
        return self.html

    async def post(self, **fields: Any) -> str:
        if not self.html:
            await self.open()
        form = aiohttp.FormData()
        nonce = NONCE.search(self.html)
        form.add_field("nonce", nonce.group(1) if nonce else "")
        for name, value in fields.items():
            if name == "file":
                file_name, data, content_type = value
                form.add_field("file", data, filename=file_name, content_type=content_type)
            else:
                form.add_field(name, str(value))
        response = await self.client.post(self.path, data=form, headers=self.headers)
        self.status, self.html = response.status, await response.text()
        answers = (*response.history, response)
        self.set_cookies = [c for r in answers for c in r.headers.getall("Set-Cookie", [])]
        return self.html

    async def say(self, text: str) -> str:
        await self.post(text=text)
        return self.last()

    async def press(self, label: str) -> str:
        value = next((v for v, shown in self.buttons() if label in shown), None)
        assert value is not None, f"no button {label!r} in {self.buttons()}"
        await self.post(press=html.unescape(value))
        return self.last()

    async def send_file(self, file_name: str, data: bytes, content_type: str, text: str = "") -> str:
        await self.post(file=(file_name, data, content_type), text=text)
        return self.last()

    async def share_location(self, lat: float, lon: float) -> str:
        await self.post(lat=lat, lon=lon)
        return self.last()

    def lines(self) -> list[tuple[str, str]]:
        return [(who, html.unescape(text)) for who, text in LINE.findall(self.html)]

    def last(self) -> str:
        """The bot's messages since the citizen last sent something, joined."""
        said: list[str] = []
        for who, text in reversed(self.lines()):
            if who == "citizen":
                break
            said.append(text)
        return "\n".join(reversed(said))

    def buttons(self) -> list[tuple[str, str]]:
        return [(v, html.unescape(label)) for v, label in BUTTON.findall(self.html)]

    def receipt(self) -> tuple[str, str]:
        text = "\n".join(t for _, t in self.lines())
        reference, code = REFERENCE.search(text), CODE.search(text)
        assert reference and code, text
        return reference.group(1), code.group(1).strip()
