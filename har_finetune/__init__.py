"""Fine-tune CLIP, SigLIP and SigLIP 2 vision towers into Human Action Recognition classifiers.

Layout (one module per concern; the run folder described in docs/run_folder.md is the only thing that
passes between training, plotting and visualising):

- config.py      settings dataclasses and argument parsing (stock TrainingArguments pass through)
- models.py      the one registry of supported model types (clip, siglip, siglip2) and heads (default, zero_shot)
- zero_shot.py   class-name prompts, the zero-shot classifier and baseline; zero_shot_head.py its model class
- optimization.py  layer-wise learning-rate decay and LP-FT; wise_ft.py  weight averaging with the zero-shot model
- predict.py     `python -m har_finetune.predict RUN_DIR PATH...`: top-k labels for any images
- data/          dataset sources, image decoding, de-duplication + split, transforms, torch datasets
- metrics.py     scikit-learn metrics, prediction and per-class report files
- train.py       `main(argv, family)`: the training job, reading like a table of contents
- campaign.py    seed and sweep campaigns (Slurm job arrays, --task_index): a task's command line
- plots.py, compare_plots.py, report.py  figures and REPORT.md from run folders; comparison.py, report_stats.py,
  stats.py       seed groups, paired comparisons and their statistics (scipy)
- demo.py        offline smoke demo: synthetic HAR-named images and tiny checkpoints
"""

HAR_CLASSES = (
    "calling", "clapping", "cycling", "dancing", "drinking", "eating", "fighting", "hugging",
    "laughing", "listening_to_music", "running", "sitting", "sleeping", "texting", "using_laptop",
)  # fmt: skip
