"""What is fine-tuned: the model registry (the one place CLIP, SigLIP and SigLIP 2 differ), the zero-shot head, WiSE-FT.

The modules are listed in har_finetune/__init__.py; docs/architecture.md draws the arrows between the parts."""
