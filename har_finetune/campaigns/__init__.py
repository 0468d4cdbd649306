"""Campaigns from one command to the report (`python -m har_finetune.campaign submit|run|status|report`).

- plan.py    models x seeds, their run folders, the campaign record (campaign.json)
- slurm.py   one job array per model, the dependent report job; what Slurm says about the tasks
- local.py   the same tasks in this process, without Slurm
- status.py  one line per task (finished, running, queued, requeued, failed)
- report.py  REPORT.md, figures and samples over the campaign, with its task list
- cli.py     the subcommands

The per-task command line (seed and sweep tasks) stays in har_finetune/campaign.py, which the settings parser
imports; this package is imported only by the subcommands.
"""
