"""Fine-tune CLIP, SigLIP and SigLIP 2 vision towers into Human Action Recognition classifiers.

Layout (one module per concern; the run folder described in docs/run_folder.md is the only thing that
passes between training, plotting and visualising):

- config.py      settings dataclasses and argument parsing (stock TrainingArguments pass through)
- run_folder/    the run folder's one owner (torch-free): files, identity, lock, checkpoints, writes, reads
- models.py      the one registry of supported model types (clip, siglip, siglip2) and heads (default, zero_shot)
- zero_shot.py   class-name prompts and the zero-shot classifier; zero_shot_head.py its model class;
                 zero_shot_baseline.py scores it before training (--zero_shot)
- trainer.py     the one Trainer subclass: batches finished on the device, LP-FT and layer decay (optimization.py)
- wise_ft.py     weight averaging with the zero-shot model
- data/          dataset sources, image decoding, de-duplication + split, transforms, torch datasets
- metrics.py     scikit-learn metrics, prediction and per-class report tables
- train.py       `main(argv, family)`: the training job, reading like a table of contents; finish.py its records
- guards.py, preemption.py  faults (NaN, out of memory, disk full) and Slurm signals
- report.py, plots.py, visualize.py  read run folders only: REPORT.md, figures, annotated samples
- campaign.py    seed and sweep campaigns (Slurm job arrays, --task_index): a task's command line
- campaigns/     `python -m har_finetune.campaign submit|run|status|report`: models x seeds to the report
- compare_plots.py, comparison.py, report_stats.py, stats.py  overlays, seed groups, paired comparisons and
                 their statistics (scipy)
- predict.py     `python -m har_finetune.predict RUN_DIR PATH...`: top-k labels for any images
- demo.py        offline smoke demo: a campaign on synthetic HAR-named images and tiny checkpoints
"""

HAR_CLASSES = (
    "calling", "clapping", "cycling", "dancing", "drinking", "eating", "fighting", "hugging",
    "laughing", "listening_to_music", "running", "sitting", "sleeping", "texting", "using_laptop",
)  # fmt: skip
