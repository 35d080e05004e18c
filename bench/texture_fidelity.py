"""How close our UV texture map is to upstream MCLD's, per reference case.

For every case of a ``texture_pws`` reference set (default
``../shared/golden/texture_pws``, made by upstream's unmodified
``preprocess_data/texture_interface.py``), builds the texture with
``mcld.annotators.uv_texture.build_uv_texture`` twice, with the old clean
fill (``fill="clean"``) and the default (``fill="upstream"``, with the set's
copy of upstream's ``texture_bg_200.png``), and prints one table row per
case and fill against ``<case>_texture.png``:

* PSNR over body pixels (non-black in either image), dB;
* identical fraction among those pixels;
* max abs difference (grey levels).

Usage::

    .venv/bin/python bench/texture_fidelity.py [--golden DIR] [--reference texture|texture_opencv481]

Case names and files come from the set's ``manifest.json``.

Source:
    Our own; metric definitions from the set's ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcld.annotators.uv_texture import build_uv_texture, compare_textures  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print the fidelity table; returns the process exit status (0)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--golden", type=Path, default=ROOT.parent / "shared" / "golden" / "texture_pws")
    ap.add_argument("--reference", default="texture", choices=("texture", "texture_opencv481"))
    args = ap.parse_args(argv)
    manifest = json.loads((args.golden / "manifest.json").read_text())
    template = args.golden / "upstream_template" / "texture_bg_200.png"
    print(f"opencv {cv2.__version__} (references made with {manifest['env']['opencv-python-headless']}); "
          f"reference <case>_{args.reference}.png")
    print("| case | fill | PSNR body (dB) | identical (body) | identical (all) | max abs | seconds |")
    print("|---|---|---|---|---|---|---|")
    for case in manifest["cases"]:
        name = case["name"]
        photo = cv2.imread(str(args.golden / f"{name}_photo.png"), cv2.IMREAD_COLOR)[..., ::-1]
        iuv = cv2.imread(str(args.golden / f"{name}_iuv.png"), cv2.IMREAD_COLOR)
        ref = cv2.imread(str(args.golden / f"{name}_{args.reference}.png"), cv2.IMREAD_COLOR)[..., ::-1]
        for fill in ("clean", "upstream"):
            t0 = time.perf_counter()
            tex = build_uv_texture(photo, iuv, fill=fill, template=template if fill == "upstream" else None)
            dt = time.perf_counter() - t0
            m = compare_textures(tex.texture, ref)
            print(f"| {name} | {fill} | {m['psnr_nonblack_union']:.2f} | {100 * m['exact_px_in_union']:.2f} % | "
                  f"{100 * m['exact_px']:.2f} % | {m['max_abs']:.0f} | {dt:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
