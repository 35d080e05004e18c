"""Command line: ``python -m mcld generate`` and ``python -m mcld batch``.

Examples::

    python -m mcld generate --source person.jpg --target-pose pose.jpg --out out.png
    python -m mcld generate --tiny --source a.png --target-pose b.png --out c.png --steps 4
    python -m mcld batch --pairs pairs.csv --out-dir results/

``pairs.csv`` has a header with columns ``source,target`` and optionally ``out``
(file name inside ``--out-dir``) and ``seed``. Each row is independent: a bad
row is reported and skipped, the others still run. The exit status is 0 when
every row succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .errors import MCLDError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (documented in ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m mcld", description="MCLD pose-guided person image synthesis")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--steps", type=int, default=20, help="DDIM steps (default 20, as upstream)")
        sp.add_argument("--guidance", type=float, default=3.5, help="classifier-free guidance scale (default 3.5)")
        sp.add_argument("--seed", type=int, default=42, help="noise seed (default 42)")
        sp.add_argument("--scheduler", default="ddim", help="ddim (upstream), dpm++2m, euler or unipc")
        sp.add_argument("--size", choices=["512x352", "256x176", "512x512"], default="512x352", help="saved size")
        sp.add_argument("--tiny", action="store_true", help="tiny random weights (offline smoke test; not a real result)")
        sp.add_argument("--weights", default="Lotior/mcld", help="Hub repo id or folder with the MCLD .pth files")
        sp.add_argument("--vae", default="stabilityai/sd-vae-ft-mse")
        sp.add_argument("--image-encoder", default="lambdalabs/sd-image-variations-diffusers")
        sp.add_argument("--densepose", default="R_101_FPN_DL_s1x", help="model name, .pkl/.safetensors path or URL")
        sp.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")

    g = sub.add_parser("generate", help="one source photo + one target-pose photo -> one image")
    g.add_argument("--source", required=True, help="photo of the person")
    g.add_argument("--target-pose", required=True, help="photo showing the target pose")
    g.add_argument("--out", required=True, help="output image path (.png)")
    g.add_argument("--mirror", action="store_true", help="mirror the target pose")
    g.add_argument("--align", action="store_true", help="fit the target pose to the source person's size and position")
    common(g)

    b = sub.add_parser("batch", help="many pairs from a CSV (columns source,target[,out][,seed])")
    b.add_argument("--pairs", required=True, help="CSV file")
    b.add_argument("--out-dir", required=True, help="folder for the results (created)")
    common(b)
    return p


def _load(args):
    from .pose_transfer import PoseTransfer

    if args.tiny:
        return PoseTransfer.tiny(device=args.device or "cpu")
    return PoseTransfer.from_pretrained(
        args.weights, vae=args.vae, image_encoder=args.image_encoder, densepose=args.densepose, device=args.device
    )


def _pick(result, size: str):
    return {"512x352": result.image_512x352, "256x176": result.image_256x176, "512x512": result.image_512}[size]


def _run_one(pt, args, source, target, out: Path, seed: int, mirror=False, align=False) -> dict:
    src = pt.prepare_source(source)
    tgt = pt.prepare_target(target, mirror=mirror, align_to=src if align else None)
    result = pt.generate(
        src, tgt, num_inference_steps=args.steps, guidance_scale=args.guidance, seed=seed, scheduler=args.scheduler
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    _pick(result, args.size).save(out)
    for note in src.warnings + tgt.warnings:
        print(f"note: {note}", file=sys.stderr)
    return {"out": str(out), **result.settings}


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit status (0 ok, 1 failures, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        pt = _load(args)
    except MCLDError as err:
        print(f"error: {err.user_message}", file=sys.stderr)
        return 1
    if args.command == "generate":
        try:
            info = _run_one(pt, args, args.source, args.target_pose, Path(args.out), args.seed, args.mirror, args.align)
        except (MCLDError, ValueError) as err:
            print(f"error: {getattr(err, 'user_message', str(err))}", file=sys.stderr)
            return 1
        print(json.dumps(info))
        return 0
    out_dir = Path(args.out_dir)
    failures = 0
    with open(args.pairs, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"source", "target"} <= set(rows[0]):
        print("error: the CSV needs a header with at least the columns source,target", file=sys.stderr)
        return 2
    for i, row in enumerate(rows):
        out = out_dir / (row.get("out") or f"{i:05d}.png")
        seed = int(row["seed"]) if row.get("seed") else args.seed
        try:
            info = _run_one(pt, args, row["source"], row["target"], out, seed)
            print(json.dumps({"row": i, **info}))
        except (MCLDError, ValueError) as err:
            failures += 1
            print(json.dumps({"row": i, "error": getattr(err, "user_message", str(err))}))
    return 1 if failures else 0
