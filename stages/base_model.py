"""Stage `base_model`: materialise the base (scorer, teacher-in-embedded, student) model.

Output: models/base (config, safetensors weights, tokenizer, chat template).
"""

from __future__ import annotations

from pathlib import Path

from asap.base_model import build_base_model
from asap.params import stage_params

OUT = Path("models/base")


def main() -> None:
    build_base_model(stage_params("base_model"), OUT)
    print(f"base_model: wrote {OUT}")


if __name__ == "__main__":
    main()
