"""Data layer: readers, format detection, validation, splits and fetching."""

from textladder.data.dataset import Columns, Dataset, file_sha256, load_dataset
from textladder.data.split import Split, SplitConfig, make_split, split_dataset, stratified_split

__all__ = ["Columns", "Dataset", "Split", "SplitConfig", "file_sha256", "load_dataset", "make_split", "split_dataset",
           "stratified_split"]
