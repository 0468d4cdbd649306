"""Fine-tune CLIP's vision tower on Human Action Recognition.

    python fine_tune_har_clip.py                      # openai/clip-vit-base-patch16 on the Hub HAR mirror
    python fine_tune_har_clip.py --dataset data/har --max_steps 20   # quick sanity check, local copy
    python fine_tune_har_clip.py recipes/clip.yaml      # all settings from a file

Every stock TrainingArguments flag passes through; `--help` lists them all. The run folder
(default outputs/clip) is described in docs/run_folder.md.
"""

import sys

from har_finetune.core.errors import run_cli

if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):  # the settings alone, without the training stack: ~2x faster
        from har_finetune.settings.arguments import parse_flags

        run_cli(lambda: parse_flags(sys.argv[1:], "clip"))
    from har_finetune.training.job import main

    run_cli(lambda: main(sys.argv[1:], family="clip"))
