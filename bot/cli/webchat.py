"""`damrongtham chat qr`: the web chat's address as a QR code, for posters and service counters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import OrgOption, app, fail, load_orgs, load_settings, pick_org

chat_app = typer.Typer(
    help="The web chat on the organisation's own site (/chat/<ORG>).", no_args_is_help=True
)
app.add_typer(chat_app, name="chat")


@chat_app.command("qr")
def chat_qr(
    org: OrgOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the SVG (default: <ORG>-chat-qr.svg).")
    ] = None,
) -> None:
    """Write a QR code of the web chat's address as SVG: a vector drawing, sharp at any print size."""
    import qrcode
    import qrcode.image.svg

    settings = load_settings()
    chosen = pick_org(load_orgs(settings), org)
    if not settings.public_url:
        raise fail("Set DAMRONGTHAM_PUBLIC_URL to the https address `damrongtham serve` is reached at.")
    url = f"{settings.public_url.rstrip('/')}/chat/{chosen.code}"
    # the highest error correction: a poster may be torn, folded or photographed at an angle
    image = qrcode.make(
        url, image_factory=qrcode.image.svg.SvgPathImage, error_correction=qrcode.constants.ERROR_CORRECT_H
    )
    path = out or Path(f"{chosen.code}-chat-qr.svg")
    path.write_bytes(image.to_string())
    typer.echo(f"Wrote {path}: a QR code of {url}")
