"""Everything that reads run folders (through run_folder.reader.RunRecord): figures, REPORT.md and its
statistics, annotated samples, the model card.

The modules are listed in har_finetune/__init__.py; docs/architecture.md draws the arrows between the parts."""
