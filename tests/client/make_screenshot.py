"""Write docs/images/tui.svg, the README screenshot: `uv run python tests/client/make_screenshot.py`."""

import asyncio
from pathlib import Path

import scenes

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


async def main() -> None:
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await scenes.connected_scene(pilot)
        await pilot.pause()
        OUT.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename="tui.svg", path=str(OUT))


if __name__ == "__main__":
    asyncio.run(main())
