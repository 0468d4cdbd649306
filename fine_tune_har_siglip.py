"""Fine-tune SigLIP's vision tower (or SigLIP 2's) on Human Action Recognition.

    python fine_tune_har_siglip.py                      # google/siglip-base-patch16-224 on the Hub HAR mirror
    python fine_tune_har_siglip.py --dataset data/har --max_steps 20   # quick sanity check, local copy
    python fine_tune_har_siglip.py recipes/siglip.yaml      # all settings from a file

Every stock TrainingArguments flag passes through; `--help` lists them all. The run folder
(default outputs/siglip) is described in docs/run_folder.md.
"""

from har_finetune.training.commands import train_command

if __name__ == "__main__":
    train_command("siglip")
