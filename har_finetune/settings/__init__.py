"""The command line of a run, parsed once into a checked, frozen RunSpec (settings/parser.py: parse_run).

The modules are listed in har_finetune/__init__.py; docs/architecture.md draws the arrows between the parts."""
