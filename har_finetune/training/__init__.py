"""The training job (job.py: the order of the steps), its Trainer, its guards against faults, preemption and launch.

The modules are listed in har_finetune/__init__.py; docs/architecture.md draws the arrows between the parts."""
