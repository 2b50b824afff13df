"""Data: sources (folders, LFW), preprocessing, the decode cache and train/test splits."""

from harness.data.dataset import Dataset, load_dataset
from harness.data.splits import Split, make_split, stage_arrays, stage_ids

__all__ = ["Dataset", "Split", "load_dataset", "make_split", "stage_arrays", "stage_ids"]
