import os
import sys

# Tests import the project's packages (criteria, datasets, ...) from the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny CUB200 tree (8 classes x 16 real JPEGs, 40 px) for end-to-end runs; read-only for the tests."""
    from tests.dataset_trees import make_cub200
    root = tmp_path_factory.mktemp("data")
    make_cub200(root, n_classes=8, per_class=16, size=40)
    return root


@pytest.fixture
def one_torch_thread():
    """For tests of tiny tensor products: a second torch thread costs more than it saves, far more on a busy
    machine. Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
