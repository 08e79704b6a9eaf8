"""Screenshot of the demo's HTML cohort report in headless Chromium (docs/report.png).

Usage (after ``bmes demo bmes-demo``; ``apt-get install -y chromium`` if missing)::

    .venv/bin/python tools/screenshot_report.py bmes-demo/report/report.html docs/report.png

The page is rendered at 1100 px wide; the top (title, provenance, patients) and the
follow-up timeline plot are kept, scaled to 900 px and stored with 128 colours (< 300 kB).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def _row_of(im: Image.Image, start: int, white_run: int) -> int:
    """First row at or after ``start`` followed by ``white_run`` white rows."""
    grey = np.asarray(im.convert("L"))
    blank = grey.min(axis=1) >= 250
    for y in range(start, grey.shape[0] - white_run):
        if blank[y:y + white_run].all():
            return y
    return grey.shape[0]


def main(html: str, png: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.png"
        subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1100,12000",
                        f"--screenshot={full}", Path(html).resolve().as_uri()],
                       check=True, capture_output=True, timeout=300)
        im = Image.open(full).convert("RGB")
    grey = np.asarray(im.convert("L"))
    end = int(np.where(grey.min(axis=1) < 250)[0].max()) + 10
    # the timeline plot is the page's last image, 97 % of the 72 em (1008 px) body wide
    with Image.open(Path(html).parent / "plots" / "followup_timelines.png") as plot_png:
        w, h = plot_png.size
    plot_top = end - 10 - round(h * 0.97 * 1008 / w) - 4
    top = im.crop((0, 0, 1100, _row_of(im, 700, 12)))
    plot = im.crop((0, plot_top, 1100, end))
    out = Image.new("RGB", (1100, top.height + plot.height + 10), "white")
    out.paste(top, (0, 0))
    out.paste(plot, (0, top.height + 10))
    out = out.resize((900, int(out.height * 900 / 1100)), Image.Resampling.LANCZOS)
    out.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    print(png, Path(png).stat().st_size, "bytes")


if __name__ == "__main__":
    main(*sys.argv[1:3])
