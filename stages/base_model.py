"""Stages `base_model` and `sft_base_model`: materialise a model folder.

Run as `python -m stages.base_model` (params `${profile}.base_model`, output models/base: the
scorer, the embedded teacher and, by default, the student) or `python -m stages.base_model
--sft` (params `${profile}.sft_base_model`, output models/sft_base: the model that is
fine-tuned and evaluated zero-shot; an alias of models/base unless a second backbone, such as
DeepSeek-R1-Distill-Llama-8B for Tables 4 and 12, is configured).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asap.model.base import build_base_model
from asap.repro.params import stage_params

OUT = Path("models/base")
SFT_OUT = Path("models/sft_base")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", action="store_true", help="the SFT base (sft_base_model)")
    args = parser.parse_args(argv)
    stage, out = ("sft_base_model", SFT_OUT) if args.sft else ("base_model", OUT)
    build_base_model(stage_params(stage), out)
    print(f"{stage}: wrote {out}")


if __name__ == "__main__":
    main()
