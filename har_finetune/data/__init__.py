"""Data: images in, torch datasets out. prepare.py holds the entry points the training job calls (each takes the
run's RunSpec); the modules are listed in har_finetune/__init__.py."""
