"""embed(): run a model over a loader and collect its embeddings in dataset order."""
import logging

import numpy as np
import torch
from tqdm import tqdm

logger = logging.getLogger(__name__)


def embed(model, loader, device, amp=False, keys=("embeds",), on_device=False):
    """Embed every batch of loader with model, keeping the model outputs named in keys.

    The model returns a dict (with "embeds", "features", ...; "logits" when asked for, see
    architectures.base.EmbeddingModel); the loader yields (images, labels, indices, n_skipped), where
    indices are the items' dataset indices and n_skipped counts items the dataset could not load. Runs in eval
    mode without gradients (autocast when amp: True for the device's default half type, or a torch dtype) and
    restores the model's previous train/eval mode.
    Returns ({key: float32 [N, D_key]}, labels int64 [N]), rows ordered by dataset index: numpy arrays, or with
    on_device float32 tensors left on device (for evaluate(..., device=device); the labels stay a numpy array).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    embeddings, labels, indices = {key: [] for key in keys}, [], []
    n_skipped = 0
    try:
        with torch.no_grad(), torch.autocast(device_type=device.type, enabled=bool(amp),
                                             dtype=amp if isinstance(amp, torch.dtype) else None):
            for batch_images, batch_labels, batch_indices, batch_skipped in tqdm(loader, desc="Embedding", leave=False):
                images = batch_images.to(device, non_blocking=True)
                output = model(images, return_logits=True) if "logits" in keys else model(images)
                for key in keys:
                    values = output[key].float()
                    embeddings[key].append(values if on_device else values.cpu().numpy())
                labels.append(torch.as_tensor(batch_labels).cpu().numpy())
                indices.append(torch.as_tensor(batch_indices).cpu().numpy())
                n_skipped += int(torch.as_tensor(batch_skipped).sum())
    finally:
        model.train(was_training)
    if not labels:
        raise ValueError("The evaluation loader yielded no batches.")
    if n_skipped:
        logger.warning("%d items could not be loaded and were skipped during embedding.", n_skipped)

    labels = np.concatenate(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"Labels must be integers, got dtype {labels.dtype}.")
    indices = np.concatenate(indices)
    if len(np.unique(indices)) != len(indices):
        raise ValueError("The evaluation loader returned some dataset index twice.")
    order = np.argsort(indices, kind="stable")
    if on_device:
        device_order = torch.from_numpy(order).to(device)
        ordered = {key: torch.cat(parts)[device_order].contiguous() for key, parts in embeddings.items()}
    else:
        ordered = {key: np.ascontiguousarray(np.concatenate(parts)[order], dtype=np.float32)
                   for key, parts in embeddings.items()}
    return ordered, labels[order].astype(np.int64)
