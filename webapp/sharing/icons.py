"""Draw the web app's icons into static/icons/ (the PNGs are committed; run again after a change).

    .venv/bin/python -m webapp.sharing.icons

A downward arrow into a tray, white on Haul's accent blue (static/css/haul.css). The "any"
icons are a rounded square on transparency; the maskable one fills the whole square and keeps
the drawing inside the middle 80% circle, the part every launcher's mask shows.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ACCENT = (0x24, 0x57, 0xD6, 255)
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parents[2] / "static" / "icons"
SUPERSAMPLE = 4  # drawn 4x larger and scaled down: smooth edges without an anti-aliasing API


def _glyph(draw: ImageDraw.ImageDraw, size: int, scale: float) -> None:
    """The arrow and tray, centred, `scale` of the icon's width across."""
    unit = size * scale / 10  # the drawing is 10 units wide
    cx, cy = size / 2, size / 2
    stroke = unit * 1.3

    def at(x: float, y: float) -> tuple[float, float]:
        return cx + (x - 5) * unit, cy + (y - 5) * unit

    # Arrow: a shaft and a head, pointing down.
    shaft_left, shaft_right = at(5 - 0.65, 0.2), at(5 + 0.65, 4.6)
    draw.rectangle((*shaft_left, *shaft_right), fill=WHITE)
    draw.polygon([at(2.3, 3.9), at(7.7, 3.9), at(5, 6.9)], fill=WHITE)
    # Tray: a U under the arrow.
    draw.line([at(0.6, 6.4), at(0.6, 9.2), at(9.4, 9.2), at(9.4, 6.4)], fill=WHITE, width=round(stroke),
              joint="curve")
    for x, y in ((0.6, 6.4), (9.4, 6.4), (0.6, 9.2), (9.4, 9.2)):
        px, py = at(x, y)
        draw.ellipse((px - stroke / 2, py - stroke / 2, px + stroke / 2, py + stroke / 2), fill=WHITE)


def draw_icon(size: int, maskable: bool) -> Image.Image:
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=ACCENT)
        _glyph(draw, big, 0.46)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=ACCENT)
        _glyph(draw, big, 0.58)
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (("haul-192.png", 192, False), ("haul-512.png", 512, False),
                                 ("haul-maskable-512.png", 512, True)):
        draw_icon(size, maskable).save(OUT / name, optimize=True)
        print(OUT / name)


if __name__ == "__main__":
    main()
