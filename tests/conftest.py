"""Shared pytest set-up: tests run on the CPU with a fixed, small thread count for repeatable timing."""
import os

import torch

os.environ.setdefault("MOEVIZ_DEVICE", "cpu")
torch.set_num_threads(min(2, os.cpu_count() or 1))
