"""The LINE rich menu, created once by `damrongtham line setup`."""

from __future__ import annotations

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)

from kernel.payloads import MenuPress

# left to right, as in the image
RICH_MENU_AREAS = tuple(MenuPress(c).data for c in ("corruption", "grievance", "track", "lang"))


async def setup_rich_menu(
    *, access_token: str, api_base_url: str, data_api_base_url: str, image: bytes
) -> str:
    """Create the default rich menu (report corruption, file a grievance, track, language)."""
    width, height = 2500, 843
    cell = width // len(RICH_MENU_AREAS)
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=i * cell, y=0, width=cell, height=height),
            action=PostbackAction(label=data.removeprefix("m."), data=data),
        )
        for i, data in enumerate(RICH_MENU_AREAS)
    ]
    request = RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=True,
        name="damrongtham-main",
        chatBarText="เมนู / Menu",
        areas=areas,
    )
    api_config = Configuration(host=api_base_url, access_token=access_token)
    data_config = Configuration(host=data_api_base_url, access_token=access_token)
    async with AsyncApiClient(api_config) as client, AsyncApiClient(data_config) as data_client:
        api = AsyncMessagingApi(client)
        menu_id = str((await api.create_rich_menu(request)).rich_menu_id)
        # the SDK sends no content type of its own for the image
        await AsyncMessagingApiBlob(data_client).set_rich_menu_image(
            menu_id, image, _headers={"Content-Type": "image/png"}
        )
        await api.set_default_rich_menu(menu_id)
    return menu_id
