"""Below everything: defaults, errors and the CLI runner, the Hub, the machine, metrics. Imports nothing of ours.

The modules are listed in har_finetune/__init__.py; docs/architecture.md draws the arrows between the parts."""
