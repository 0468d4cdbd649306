"""Campaigns from one command to the report (`python -m har_finetune.campaign submit|run|status|report|tasks`).

- cli.py     the one parser of every subcommand (har_finetune/campaign.py is its entry point); the sweep listing
- plan.py    models x tasks (seeds, or a sweep's tasks: settings/tasks.py), their run folders, campaign.json
- checks.py  every task parsed as its training will parse it, before anything is submitted or run
- slurm.py   one job array per model, the dependent report job; what Slurm says about the tasks
- local.py   the same tasks in this process, without Slurm
- status.py  one line per task (finished, running, queued, requeued, failed)
- report.py  REPORT.md, figures and samples over the campaign, with its task list

What one task trains (its index -> seed or sweep settings and run folder) is settings/tasks.py, which the training
parser and plan.py both use; this package is imported only by the campaign commands (settings/ never imports it).
"""
