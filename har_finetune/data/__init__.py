"""Data: find the source (sources.py), decode and check images (images.py), de-duplicate and split
(split.py), turn the image processor's settings into transforms (transforms.py), feed Trainer (datasets.py)."""
