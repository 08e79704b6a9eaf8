"""Make ``docs/followup_view.png``: the follow-up view on a phantom foot of the cohort.

Writes the baseline and follow-up phantom studies of one Table 1 foot (default the
migratory foot ``p03_R``: talus edema resolving, navicular edema new) into a temporary
folder, opens them with the follow-up view (napari grid: baseline left, follow-up
right, one world frame) and saves a screenshot of the whole window, reduced to a
palette image so that it stays under 300 kB.

Needs a display; on a headless machine::

    xvfb-run -a -s "-screen 0 1500x900x24" .venv/bin/python tools/screenshot_followup.py

Options: ``--foot NAME`` (a Table 1 foot, default ``p03_R``), ``--resolution MM``
(phantom voxel scale, default 2.0), ``--out PATH`` (default ``docs/followup_view.png``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--foot", default="p03_R", help="Table 1 foot (default p03_R)")
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "followup_view.png")
    parser.add_argument("--size", default="1500x900", help="window size WxH")
    args = parser.parse_args(argv)

    import napari
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    from bmes_imaging.phantom import follow_up_specs, write_study
    from bmes_imaging_napari._qt._followup_view import FollowUpView

    found = {base: (spec, fu) for _, base, spec, fu in follow_up_specs("table1")}
    if args.foot not in found:
        print(f"no Table 1 foot {args.foot!r}; one of {sorted(found)}", file=sys.stderr)
        return 2
    spec, fu = found[args.foot]
    spec = dataclasses.replace(spec, resolution=args.resolution)
    tmp = Path(tempfile.mkdtemp(prefix="bmes-followup-shot-"))
    write_study(spec, tmp / "base")
    write_study(spec, tmp / "fu", follow_up=fu)

    viewer = napari.Viewer(title="bmes-imaging follow-up", show=True)
    width, height = (int(v) for v in args.size.split("x"))
    viewer.window.resize(width, height)
    view = FollowUpView(viewer)
    viewer.window.add_dock_widget(view, name="Follow-up", area="right")
    errors: list[BaseException] = []
    worker = view.open_pair(tmp / "base", tmp / "fu")
    worker.errored.connect(errors.append)
    deadline = time.monotonic() + 300
    while view.pair is None and not errors:
        QApplication.processEvents()
        if time.monotonic() > deadline:
            print("timed out opening the pair", file=sys.stderr)
            return 1
        time.sleep(0.02)
    if errors:
        print(f"could not open the pair: {errors[0]}", file=sys.stderr)
        return 1
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    img = Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)[..., :3])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=128).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} kB")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
