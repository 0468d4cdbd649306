"""Fine-tune CLIP, SigLIP and SigLIP 2 vision towers into Human Action Recognition classifiers.

The parts (docs/architecture.md draws the arrows allowed between them; the run folder, docs/run_folder.md, is the
only thing that passes between training and everything that reads its results):

core/          below everything; imports nothing of ours
  defaults.py    the HAR classes, the names flags choose from, default checkpoints, dataset and cache folder
  errors.py      UserError (one line, exit 2) and RunFailed (exit 3)
  cli.py         run_cli: the runner every entry point goes through
  hub.py         reaching the Hugging Face Hub, or knowing we cannot (one-line errors for offline nodes)
  local_paths.py names that mean a local path, and the closest existing name when one is missing
  machine.py     the CPUs this process may use, and how many workers an image pool gets
  metrics.py     accuracy, macro-F1, predictions and per-class tables (scikit-learn)
run_folder/    the run folder's one owner (torch-free)
  files.py       file names, what counts as a run folder, atomic writes
  identity.py    the settings that define a run's result, checked on every rerun
  rerun.py       a folder holding another run is refused
  lock.py        one training process per run folder
  checkpoints.py which checkpoint is complete and may be resumed; whether the run finished
  writer.py      every write into a run folder, in the order that keeps it honest (all_results.json last)
  reader.py      RunRecord: every read of a run folder
settings/      the command line, parsed once into a checked RunSpec
  arguments.py   the settings dataclasses (ours + the stock TrainingArguments) with help text
  parser.py      parse_run / parse_flags: recipe, flags, campaign task, checks, notes
  help_text.py   --help: what the command does, our flags and the common Trainer ones first, every other after
  checks.py      every check that needs no data (values, options, checkpoints, --output_dir)
  environment.py what the run needs from its surroundings (cache folder, --report_to, --push_to_hub)
  flag_names.py  transformers 4 names, aliases and typos, each refused with the right name
  recipes.py     JSON/YAML recipe files
  strategies.py  save and evaluation strategies made to agree (keeping the best model)
  tasks.py       campaign tasks (seeds, sweeps) by index: the one Task type, its flags and run folder
  spec.py        RunSpec: the frozen value every stage takes
data/          images in, torch datasets out
  prepare.py     the entry points the job calls: load_labelled, scan_and_split, build_datasets
  sources.py     folder-per-class, Kaggle CSV and Hub layouts as LabelledImages; hub.py the Hub formats;
                 labelled.py the value they return
  images.py      decoding and checking one image; scan.py the input scan; scan_record.py the recorded scan
  split.py       de-duplication and the seeded stratified split; near_duplicates.py the perceptual hash and its
                 groups, grouped_split.py those groups kept on one side
  preprocessing.py the image processor's settings as a frozen value; transforms.py the transforms
  cache.py, pixel_files.py  the decoded-pixel cache (memory-mapped uint8 files); checksums.py its integrity
  datasets.py    torch datasets and the collator
  synthetic.py   the demo's learnable stand-in images; distinct scenes and their near copies for the tests
models/        what is fine-tuned
  registry.py    the one place CLIP, SigLIP and SigLIP 2 differ; loading checkpoints and processors
  zero_shot.py   class-name prompts and the zero-shot classifier; zero_shot_head.py its model class
  wise_ft.py     weight averaging with the zero-shot model
  load_messages.py transformers' load report as one line
  tiny.py        tiny checkpoints (fixed weights) for the demo and the tests
training/      the job
  job.py         main(argv, family): the order of the steps
  commands.py    the training scripts' entry (fast --help)
  trainer.py     the one Trainer subclass; optimization.py LP-FT and layer decay
  guards.py      NaN, out of memory, disk full; preemption.py Slurm signals; launch.py torchrun for Slurm
  prepared.py    PreparedRun: what the last stages take
  records.py     what the run writes about itself; zero_shot_baseline.py the --zero_shot row
  rerun.py       a finished run of older data refused (the dataset listed again)
reporting/     reads run folders only (through RunRecord): figures, REPORT.md, samples, model card
  loading.py     which run folders a path stands for; each run's test results (scored.py: ScoredRun, Unit)
  groups.py      seed groups and pairing by test images
  stats.py, power.py, verdicts.py  the statistics (pure): intervals, tests, power, verdicts; configuration_test.py
                 the configuration's t over seeds and test images; answer.py the report's opening paragraph
  verdict_text.py the verdicts in words; tables.py the tables' rows; sections.py the uncertainty sections
  document.py    the report as one value (Report, Section, blocks); markdown.py renders it as REPORT.md
  report.py      builds the report value, plot_and_report (plot_command.py: plot_metrics.py)
  html/          the same value as report/index.html, with pages per confusion cell and class, thumbnails, cleanlab
  run_figures.py per-run figures; comparison_figures.py figures of several runs; fonts.py CJK fallback
  samples.py     annotated test images (samples_command.py: visualize_predictions.py); model_card.py README.md
campaigns/     `python -m har_finetune.campaign submit|run|status|report|tasks`: models x seeds or a sweep to a report
  plan.py        the campaign's models and tasks (settings/tasks.py), flags, record; cli.py the one parser
  slurm.py       job arrays and the dependent report job; local.py the same tasks in this process
  status.py      one line per task; report.py REPORT.md with the campaign's tasks and samples
side commands  python -m har_finetune.X
  campaign.py    the entry point of campaigns/cli.py; check_args.py the Slurm batch-host check
  predict.py     top-k labels of images; prefetch.py fill the Hugging Face cache for offline nodes
  demo.py        the offline demo: a campaign of 2 tiny models x 3 seeds on synthetic images
"""

from har_finetune.core.defaults import HAR_CLASSES  # noqa: F401  (the 15 classes: `from har_finetune import HAR_CLASSES`)
