"""The round summary as a bar chart (PNG), set in Sarabun so Thai renders without system fonts."""

from __future__ import annotations

import io
from decimal import Decimal

from fontpkg_sarabun import ROOT as SARABUN
from PIL import Image, ImageDraw, ImageFont

WIDTH, BAR_H, GAP, LEFT, TOP = 1000, 56, 28, 40, 110
INK, BAR, TRACK, ACCENT = (33, 37, 41), (32, 110, 180), (226, 232, 240), (20, 90, 50)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "Sarabun-Bold.ttf" if bold else "Sarabun-Regular.ttf"
    return ImageFont.truetype(str(SARABUN / "files" / name), size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """Cut a long dimension name to the chart's width."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def bar_chart(title: str, bars: list[tuple[str, Decimal]], overall: tuple[str, Decimal]) -> bytes:
    """One horizontal bar per dimension (percent done), then the overall share."""
    rows = [*bars, overall]
    height = TOP + len(rows) * (BAR_H + GAP + 30) + 40
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((LEFT, 30), title, font=_font(30, bold=True), fill=INK)
    label_font, value_font = _font(24), _font(26, bold=True)
    y = TOP
    track_w = WIDTH - 2 * LEFT - 130
    for i, (label, percent) in enumerate(rows):
        last = i == len(rows) - 1
        font = _font(24, bold=True) if last else label_font
        draw.text((LEFT, y), _fit(draw, label, font, WIDTH - 2 * LEFT), font=font, fill=INK)
        y += 34
        draw.rectangle((LEFT, y, LEFT + track_w, y + BAR_H), fill=TRACK)
        filled = int(track_w * float(min(percent, Decimal(100))) / 100)
        draw.rectangle((LEFT, y, LEFT + filled, y + BAR_H), fill=ACCENT if last else BAR)
        draw.text((LEFT + track_w + 14, y + 10), f"{percent:.2f}%", font=value_font, fill=INK)
        y += BAR_H + GAP
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
