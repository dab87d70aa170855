"""Histogram loss (Ustinova & Lempitsky, NeurIPS 2016), on all pairs of the batch; no batchminer.

Cosine similarities of the unordered positive and negative pairs are binned into histograms h+ and h- on
`nbins` equally spaced nodes over [-1, 1]; each similarity is split between its two neighbouring nodes in proportion
to its closeness (linear interpolation, which makes the histograms differentiable) and each histogram sums to 1.
  L = sum_r h-[r] * sum_{q <= r} h+[q],
the probability that a random negative pair is more similar than a random positive one.
Embeddings are L2-normalised here, so the similarities stay in [-1, 1] whatever the architecture; Roth's code takes
plain dot products and relies on a normalising architecture (same value on unit-norm input).
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import positive_int


@REGISTRY.register("histogram")
class HistogramLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        import argparse

        def node_count(text):
            """An integer >= 2: the nodes include -1 and 1."""
            try:
                value = positive_int(text)
            except argparse.ArgumentTypeError:
                value = None
            if value is None or value < 2:
                raise argparse.ArgumentTypeError(f"expected an integer >= 2 (nodes at -1 and 1), got {text!r}")
            return value

        group.add_argument("--loss_histogram_nbins", default=65, type=node_count,
                           help="Number of histogram nodes on [-1, 1] (nbins - 1 intervals), as in Roth.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.n_nodes = opt.loss_histogram_nbins
        self.node_spacing = 2.0 / (self.n_nodes - 1)

    def histogram(self, similarities):
        """Linearly interpolated histogram of the similarities on the nodes, normalised to sum to 1."""
        position = (similarities + 1) / self.node_spacing
        # Similarity 1 lies on the last node: count it in the last interval rather than one past the end.
        lower_node = position.detach().floor().clamp(0, self.n_nodes - 2)
        upper_share = position - lower_node
        lower_node = lower_node.long()
        hist = similarities.new_zeros(self.n_nodes)
        hist = hist.scatter_add(0, lower_node, 1 - upper_share).scatter_add(0, lower_node + 1, upper_share)
        return hist / len(similarities)

    def forward(self, batch, labels, **context):
        embeds = F.normalize(batch, dim=1)
        similarity = embeds @ embeds.T
        upper_triangle = torch.ones_like(similarity, dtype=torch.bool).triu(diagonal=1)
        same_class = labels[:, None] == labels[None, :]
        pos_similarities = similarity[upper_triangle & same_class]
        neg_similarities = similarity[upper_triangle & ~same_class]
        if len(pos_similarities) == 0 or len(neg_similarities) == 0:
            return batch.sum() * 0.0
        pos_cdf = self.histogram(pos_similarities).cumsum(dim=0)
        return (self.histogram(neg_similarities) * pos_cdf).sum()
