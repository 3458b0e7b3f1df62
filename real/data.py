"""Training data: CIFAR-100 through torchvision, or a learnable synthetic stand-in.

Both give uint8 arrays of shape (N, 32, 32, 3) and int64 labels (100 classes).
Batches are drawn and augmented on the training device by the trainer
(`augment`): the usual CIFAR recipe, a random 32x32 crop of the image padded by
4 pixels and a random horizontal flip, then per-channel normalisation. The
random choices come from a generator seeded by (seed, epoch, step), so a
resumed run augments exactly as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CIFAR_TRAIN, CIFAR_VAL, CLASSES = 50_000, 10_000, 100
MEAN = (0.5071, 0.4865, 0.4409)  # CIFAR-100 per-channel mean and std
STD = (0.2673, 0.2564, 0.2762)
CIFAR_DIR = "cifar-100-python"


class DatasetMissing(Exception):
    """CIFAR-100 is not at the data root; the message names both ways out."""


@dataclass(frozen=True)
class Arrays:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def cifar_present(root: str | Path) -> bool:
    d = Path(root) / CIFAR_DIR
    return (d / "train").is_file() and (d / "test").is_file()


def missing_message(root) -> str:
    return (f"CIFAR-100 is not in {Path(root).resolve()} (expected {CIFAR_DIR}/train and test). "
            f"Add --download to fetch it (about 170 MB, needs a network), or run with "
            f"--dataset synthetic for data of the same shape without downloading.")


def download_cifar(root: str | Path) -> None:
    import torchvision

    torchvision.datasets.CIFAR100(str(root), train=True, download=True)
    torchvision.datasets.CIFAR100(str(root), train=False, download=True)


def load_cifar(root: str | Path) -> Arrays:
    if not cifar_present(root):
        raise DatasetMissing(missing_message(root))
    import torchvision

    tr = torchvision.datasets.CIFAR100(str(root), train=True, download=False)
    va = torchvision.datasets.CIFAR100(str(root), train=False, download=False)
    return Arrays(tr.data, np.asarray(tr.targets, np.int64), va.data, np.asarray(va.targets, np.int64))


def synthetic(n: int, seed: int, split: int, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`n` images of one split: a class template plus noise, made in chunks of 1,000
    seeded by (seed, split, chunk), so a prefix of the set is the smaller set."""
    xs, ys = [], []
    for chunk in range(-(-n // 1000)):
        m = min(1000, n - chunk * 1000)
        rng = np.random.default_rng([seed, split, chunk])
        y = rng.integers(0, CLASSES, m)
        contrast = rng.uniform(0.6, 1.4, (m, 1, 1, 1)).astype(np.float32)
        noise = rng.standard_normal((m, 32, 32, 3), dtype=np.float32)
        x = 128.0 + contrast * templates[y] + 70.0 * noise
        xs.append(np.clip(x, 0, 255).astype(np.uint8))
        ys.append(y.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def synthetic_templates(seed: int) -> np.ndarray:
    """One fixed pattern per class: smooth 8x8 random colour fields upsampled to 32x32."""
    rng = np.random.default_rng([seed, 7])
    low = rng.standard_normal((CLASSES, 8, 8, 3)).astype(np.float32)
    return 45.0 * np.repeat(np.repeat(low, 4, axis=1), 4, axis=2)


def load(dataset: str, root: str | Path, seed: int, max_samples: int | None) -> Arrays:
    """The train and validation arrays; `max_samples` caps train (validation gets a fifth, >= 200)."""
    n_tr = min(CIFAR_TRAIN, max_samples or CIFAR_TRAIN)
    n_va = CIFAR_VAL if not max_samples else min(CIFAR_VAL, max(200, max_samples // 5))
    if dataset == "cifar100":
        a = load_cifar(root)
        return Arrays(a.train_x[:n_tr], a.train_y[:n_tr], a.val_x[:n_va], a.val_y[:n_va])
    if dataset == "synthetic":
        t = synthetic_templates(seed)
        tx, ty = synthetic(n_tr, seed, 0, t)
        vx, vy = synthetic(n_va, seed, 1, t)
        return Arrays(tx, ty, vx, vy)
    raise ValueError(f"unknown dataset {dataset!r}")


def epoch_order(n: int, seed: int, epoch: int):
    """The sampler: a permutation of the training set that depends only on (seed, epoch)."""
    import torch

    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def augment(x_u8, seed: int, epoch: int, step: int, mean, std):
    """Random crop (pad 4) and flip of a uint8 NHWC batch on its device -> normalised float NCHW."""
    import torch

    b = x_u8.shape[0]
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 100_003 + step)
    oy = torch.randint(0, 9, (b,), generator=g)
    ox = torch.randint(0, 9, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    dev = x_u8.device
    x = x_u8.permute(0, 3, 1, 2).float().div_(255.0)
    x = torch.nn.functional.pad(x, (4, 4, 4, 4))
    ar = torch.arange(32)
    rows = (oy[:, None] + ar).to(dev)                      # b x 32
    cols = ox[:, None] + ar
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(dev)
    bi = torch.arange(b, device=dev)[:, None, None]
    x = x.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # b x 32 x 32 x C
    x = x.permute(0, 3, 1, 2)
    return (x - mean) / std


def normalise(x_u8, mean, std):
    """Validation: no augmentation, only normalisation."""
    return (x_u8.permute(0, 3, 1, 2).float().div_(255.0) - mean) / std
