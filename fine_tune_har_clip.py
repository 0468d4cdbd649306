"""Fine-tune CLIP's vision tower on Human Action Recognition.

    python fine_tune_har_clip.py                      # openai/clip-vit-base-patch16 on the Hub HAR mirror
    python fine_tune_har_clip.py --dataset data/har --max_steps 20   # quick sanity check, local copy
    python fine_tune_har_clip.py recipes/clip.yaml      # all settings from a file

Every stock TrainingArguments flag passes through; `--help` lists them all. The run folder
(default outputs/clip) is described in docs/run_folder.md.
"""

from har_finetune.training.commands import train_command

if __name__ == "__main__":
    train_command("clip")
