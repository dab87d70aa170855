"""Singular values of an embedding matrix, shared by all rho_spectrum metrics of a space."""
import numpy as np
import torch

ROWS_PER_STEP = 8192  # rows converted to float64 at a time, bounding memory


def singular_values(embeddings):
    """float64 [min(N, D)], descending: the singular values of float32 [N, D] embeddings (not centred), as square
    roots of the eigenvalues of the D x D Gram matrix accumulated in float64. embeddings: a numpy array, or a tensor
    (the Gram matrix is then accumulated on its device)."""
    embeddings = torch.as_tensor(embeddings)
    gram = torch.zeros(embeddings.shape[1], embeddings.shape[1], dtype=torch.float64, device=embeddings.device)
    for start in range(0, len(embeddings), ROWS_PER_STEP):
        rows = embeddings[start:start + ROWS_PER_STEP].double()
        gram += rows.T @ rows
    eigenvalues = np.linalg.eigvalsh(gram.cpu().numpy())[::-1][: min(embeddings.shape)]
    return np.sqrt(np.clip(eigenvalues, 0, None))
