"""Divide and conquer (Sanakoyeu et al., "Divide and Conquer the Embedding Space for Metric Learning", CVPR 2019,
and "Improving Deep Metric Learning by Divide and Conquer", TPAMI 2021): the training data is clustered in the
embedding space, each cluster gets its own learner (a mask over the embedding dimensions), and each learner's loss
sees only its cluster's images. On with `--dnc_nb_clusters K` (K > 0), composed with any `--loss` and batchminer.

Schedule, with T = `--dnc_mod_epoch` and F = `--dnc_force_full_embedding_epoch` (epochs count from 1):
  - the clustering phase runs through epoch F (the whole run when F is -1); it re-clusters the training set at
    epochs 1, 1 + T, 1 + 2T, ... (on the backbone's L2-normalised pooled features, or the embeddings with
    `--dnc_cluster_features embeds`, computed with the evaluation transform): Faiss k-means, 100 iterations,
    redrawn with a new seed (up to 30 times) until every cluster holds at least two classes with at least two
    images; new cluster ids are matched to the previous ones by the Hungarian method (scipy) on the size of the
    symmetric difference between old and new member sets, so each learner keeps most of its images (k-means is
    evaluation.kmeans.kmeans_assign, the clustering metrics' own);
  - `--dnc_hierarchy top_bot` (the paper's): one cluster at first; each re-clustering runs k-means with the current
    number of clusters, matches it, then splits every cluster in two by 2-means on its members (children 2c and
    2c + 1, whose masks start as copies of the parent's), so the count goes 1, 2, 4, ... up to K (a power of two);
    `flat`: K clusters at every re-clustering;
  - within a cluster, the images of a class that has only one image there are left out until the next
    re-clustering (no positive for them); one cluster is the whole training set, nothing left out;
  - batches: the class-balanced sampler draws each batch from one cluster, clusters taking turns
    (datasampler/class_random.py); the learner of a batch is the cluster of its images (looked up from the
    "indices" context key; a batch mixing clusters is an error);
  - learner k's embedding is normalize(e * relu(m_k)) where e is the model's embedding (the arch must have the
    _normalize tag; since normalisation is scale-free this equals the paper's normalize((W x + b) * relu(m_k)));
    masks start at ones and learn at `--dnc_mask_lr_mult` x lr with `--dnc_mask_wd_mult` x `--decay`; this term's
    value, weighted by `--dnc_masking_lambda`, is the mean pairwise cosine similarity of the relu'd masks of the
    current clusters (zero for one cluster). `--dnc_fixed_mask`: K disjoint contiguous slices of D / K dimensions
    instead (no parameters, no penalty); `--dnc_no_mask`: every learner uses the full embedding (clustered batches
    only);
  - the backbone is frozen for the first `--dnc_mod_epoch_freeze` epochs of each period;
  - from epoch F + 1 on, the masks are frozen and neither applied nor penalised, and the full embedding trains on
    class-balanced batches from the whole training set.
Evaluation always uses the model's full embedding, as the paper's. Each re-clustering logs the clusters' image and
class counts, the images left out, and the share of images whose cluster changed.

Departures from the reference code (CompVis/metric-learning-divide-and-conquer-improved), on purpose:
  - its Hungarian relabelling applies the inverse permutation (wrong whenever the best matching contains a cycle of
    three or more clusters); here cluster i of the new clustering takes the id it is matched to;
  - an epoch keeps the plain run's len(train) // bs steps, clusters sharing them equally; the reference's epoch is
    K x the largest cluster's batch count, so a with/without comparison here holds the number of steps fixed;
  - after F it keeps re-clustering, freezing the backbone and drawing single-cluster batches although the masks are
    no longer used; here the full-embedding phase trains plainly on the whole set, as the paper describes it;
  - when every k-means redraw fails the validity check it silently keeps the last; here that is logged as a warning;
  - Adam's moments of a mask are kept when it is copied into its children (the reference rebuilds the optimiser
    group, resetting them).
"""
import numpy as np
import torch
import torch.nn.functional as F

from regularisers import REGISTRY
from regularisers.base import Regulariser
from utilities.argtypes import nonnegative_float, nonnegative_int, positive_int, positive_int_or_minus_one
from utilities.errors import ConfigError

HIERARCHIES = ("top_bot", "flat")
CLUSTER_FEATURES = ("features", "embeds")
KMEANS_ITERATIONS = 100
KMEANS_TRIALS = 30


def cluster_class_pairs(assignments, labels):
    """The distinct (cluster, class) pairs of the assigned images (2 x P), the images of each, and each image's pair
    (-1 for images left out)."""
    assigned = assignments >= 0
    pairs, pair_of, counts = np.unique(np.stack([assignments[assigned], labels[assigned]]), axis=1,
                                       return_inverse=True, return_counts=True)
    pair_of_image = np.full(len(assignments), -1)
    pair_of_image[assigned] = pair_of.ravel()
    return pairs, counts, pair_of_image


def valid_clustering(assignments, labels, n_clusters):
    """Whether each of the n_clusters holds at least two classes with at least two images in it."""
    (clusters, _), counts, _ = cluster_class_pairs(assignments, labels)
    usable = np.bincount(clusters[counts >= 2], minlength=n_clusters)
    return bool((usable[:n_clusters] >= 2).all())


def kmeans(points, labels, n_clusters, seed):
    """k-means cluster ids (int64 [N]) of float32 points, redrawn with seeds seed, seed + 1, ... until
    valid_clustering holds (at most KMEANS_TRIALS draws); returns (ids, whether valid)."""
    if n_clusters == 1:
        return np.zeros(len(points), dtype=np.int64), True
    from evaluation.kmeans import kmeans_assign
    for trial in range(KMEANS_TRIALS):
        ids = kmeans_assign(points, n_clusters, seed=seed + trial, n_iter=KMEANS_ITERATIONS)
        if valid_clustering(ids, labels, n_clusters):
            return ids, True
    return ids, False


def match_to_previous(new, previous, n_clusters):
    """New cluster ids relabelled so that the new clusters' member sets differ least from the previous clusters'
    of the same id (sum over ids of the symmetric differences, minimised by the Hungarian method). Images left out
    before (-1) belong to no previous cluster."""
    from scipy.optimize import linear_sum_assignment
    kept = previous >= 0
    overlap = np.zeros((n_clusters, n_clusters))
    np.add.at(overlap, (new[kept], previous[kept]), 1)
    new_sizes = np.bincount(new, minlength=n_clusters)
    previous_sizes = np.bincount(previous[kept], minlength=n_clusters)
    symmetric_difference = new_sizes[:, None] + previous_sizes[None, :] - 2 * overlap
    rows, columns = linear_sum_assignment(symmetric_difference)
    relabel = np.empty(n_clusters, dtype=np.int64)
    relabel[rows] = columns
    return relabel[new]


def split_in_two(points, labels, assignments, n_clusters, seed):
    """Every cluster c split by 2-means on its members into children 2c and 2c + 1; returns (ids, the parents whose
    split found no valid halves)."""
    children = np.full_like(assignments, -1)
    failed = []
    for parent in range(n_clusters):
        members = np.flatnonzero(assignments == parent)
        halves, valid = kmeans(points[members], labels[members], 2, seed + 1000 * parent)
        children[members] = 2 * parent + halves
        if not valid:
            failed.append(parent)
    return children, failed


def leave_out_lone_images(assignments, labels):
    """Cluster ids with -1 for every image whose class has no other image in its cluster."""
    _, counts, pair_of_image = cluster_class_pairs(assignments, labels)
    return np.where(counts[pair_of_image] >= 2, assignments, -1)


def mask_penalty(masks):
    """Mean pairwise cosine similarity of the relu'd masks (K x D), over the K(K - 1) ordered pairs; 0 for K = 1."""
    k = len(masks)
    if k < 2:
        return masks.new_zeros(())
    unit = F.normalize(F.relu(masks), dim=1)
    cosines = unit @ unit.T
    return (cosines.sum() - cosines.diagonal().sum()) / (k * (k - 1))


def fixed_masks(n_clusters, embed_dim, device=None):
    """K disjoint contiguous slices of embed_dim / K ones (K x D)."""
    slice_of_dimension = torch.arange(embed_dim, device=device) // (embed_dim // n_clusters)
    return (slice_of_dimension[None, :] == torch.arange(n_clusters, device=device)[:, None]).float()


@REGISTRY.register("dnc")
class DivideAndConquer(Regulariser):
    WEIGHT_OPTION = "dnc_masking_lambda"
    NEEDS = frozenset({"indices"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--dnc_nb_clusters", default=0, type=nonnegative_int,
                           help="Divide and conquer with this many clusters (learners); 0 turns it off.")
        group.add_argument("--dnc_mod_epoch", default=2, type=positive_int,
                           help="Re-cluster the training set every this many epochs.")
        group.add_argument("--dnc_mod_epoch_freeze", default=0, type=nonnegative_int,
                           help="Freeze the backbone for the first this many epochs after each re-clustering "
                                "(less than --dnc_mod_epoch).")
        group.add_argument("--dnc_force_full_embedding_epoch", default=-1, type=positive_int_or_minus_one,
                           help="After this many epochs, train the full embedding on the whole set with the masks "
                                "frozen; -1: never.")
        group.add_argument("--dnc_masking_lambda", default=1.0, type=nonnegative_float,
                           help="Weight of the masks' mean pairwise cosine similarity.")
        group.add_argument("--dnc_mask_lr_mult", default=1.0, type=nonnegative_float,
                           help="The masks' learning rate as a multiple of --lr.")
        group.add_argument("--dnc_mask_wd_mult", default=0.0, type=nonnegative_float,
                           help="The masks' weight decay as a multiple of --decay.")
        group.add_argument("--dnc_fixed_mask", action="store_true",
                           help="Fixed disjoint slices of embed_dim / K dimensions instead of learned masks.")
        group.add_argument("--dnc_no_mask", action="store_true",
                           help="No masks: every learner uses the full embedding (only the batches are clustered).")
        group.add_argument("--dnc_hierarchy", default="top_bot", choices=HIERARCHIES,
                           help="top_bot: start with one cluster and split each in two at every re-clustering "
                                "until --dnc_nb_clusters; flat: that many clusters from the start.")
        group.add_argument("--dnc_cluster_features", default="features", choices=CLUSTER_FEATURES,
                           help="Cluster the L2-normalised pooled backbone features or the embeddings.")

    @classmethod
    def is_active(cls, opt):
        return opt.dnc_nb_clusters > 0

    def __init__(self, opt, num_classes, embed_dim):
        super().__init__()
        self.check(opt, embed_dim)
        self.n_clusters = opt.dnc_nb_clusters
        self.mod_epoch = opt.dnc_mod_epoch
        self.freeze_epochs = opt.dnc_mod_epoch_freeze
        self.full_embedding_after = opt.dnc_force_full_embedding_epoch
        self.hierarchy = opt.dnc_hierarchy
        self.cluster_features = opt.dnc_cluster_features
        self.seed = 1234 + 1000 * opt.seed
        self.mask_kind = "none" if opt.dnc_no_mask else "fixed" if opt.dnc_fixed_mask else "learned"
        self.embed_dim = embed_dim
        if self.mask_kind == "learned":
            self.masks = torch.nn.Parameter(torch.ones(self.n_clusters, embed_dim))
            self.lr_multiplier = opt.dnc_mask_lr_mult
            self.weight_decay = opt.dnc_mask_wd_mult * opt.decay
        # Set at each epoch start from the epoch and the sampler's (checkpointed) assignments.
        self.current_clusters = 1
        self.cluster_of = None
        self.masking = False

    @staticmethod
    def check(opt, embed_dim):
        import architectures
        import datasampler
        k = opt.dnc_nb_clusters
        if "normalize" not in architectures.parse(opt.arch)[1]:
            raise ConfigError(f"Divide and conquer masks a unit-norm embedding: use an architecture with the "
                              f"_normalize tag (e.g. {opt.arch}_normalize), not --arch {opt.arch}.")
        sampler = datasampler.REGISTRY.get(opt.data_sampler)
        if not getattr(sampler, "CLUSTER_AWARE", False):
            aware = [n for n, c in datasampler.REGISTRY.items() if getattr(c, "CLUSTER_AWARE", False)]
            raise ConfigError(f"Divide and conquer draws each batch from one cluster; --data_sampler "
                              f"{opt.data_sampler} does not. Use one of: {', '.join(aware)}.")
        if opt.dnc_mod_epoch_freeze >= opt.dnc_mod_epoch:
            raise ConfigError(f"--dnc_mod_epoch_freeze ({opt.dnc_mod_epoch_freeze}) must be less than "
                              f"--dnc_mod_epoch ({opt.dnc_mod_epoch}): the backbone would never train.")
        if opt.dnc_hierarchy == "top_bot" and k & (k - 1):
            raise ConfigError(f"--dnc_hierarchy top_bot doubles the clusters at each re-clustering, so "
                              f"--dnc_nb_clusters must be a power of two, got {k}; or use --dnc_hierarchy flat.")
        if opt.dnc_fixed_mask and opt.dnc_no_mask:
            raise ConfigError("--dnc_fixed_mask and --dnc_no_mask exclude each other.")
        if opt.dnc_fixed_mask and embed_dim % k:
            raise ConfigError(f"--dnc_fixed_mask cuts the {embed_dim} embedding dimensions into {k} equal slices: "
                              f"--embed_dim must be a multiple of --dnc_nb_clusters.")

    # ---- schedule ----
    def clustering_phase(self, epoch):
        return self.full_embedding_after < 0 or epoch <= self.full_embedding_after

    def clusters_at(self, epoch):
        """Clusters in use at a clustering-phase epoch (top_bot doubles them at each re-clustering)."""
        if self.hierarchy == "flat":
            return self.n_clusters
        return min(self.n_clusters, 2 ** ((epoch - 1) // self.mod_epoch))

    def on_epoch_start(self, ctx):
        epoch = ctx.epoch
        if not self.clustering_phase(epoch):
            self.current_clusters, self.cluster_of, self.masking = 1, None, False
            ctx.sampler.set_assignments(None)
            if self.mask_kind == "learned":
                ctx.optimizers.freeze([f"loss_{self.registry_name}"])
            return
        period_epoch = (epoch - 1) % self.mod_epoch
        if period_epoch == 0:
            self.recluster(ctx)
        self.current_clusters = self.clusters_at(epoch)
        assignments = ctx.sampler.assignments
        self.cluster_of = None if assignments is None else torch.as_tensor(assignments)
        self.masking = self.mask_kind != "none"
        if period_epoch < self.freeze_epochs:
            ctx.optimizers.freeze(["backbone"])

    # ---- clustering ----
    def recluster(self, ctx):
        epoch, log = ctx.epoch, ctx.logger
        clusters = self.clusters_at(epoch)
        if clusters == 1:
            ctx.sampler.set_assignments(None)
            log.info("D&C epoch %d: one cluster, the whole training set.", epoch)
            return
        labels = np.asarray(ctx.train_split.labels)
        outputs, _ = ctx.embed(ctx.train_split, keys=[self.cluster_features])
        points = outputs[self.cluster_features]
        if len(points) != len(labels):
            raise ConfigError(f"Divide and conquer clusters every training image, but {len(labels) - len(points)} "
                              f"could not be read; remove them from the dataset.")
        points = np.ascontiguousarray(points / np.linalg.norm(points, axis=1, keepdims=True).clip(1e-12),
                                      dtype=np.float32)
        previous = ctx.sampler.assignments
        # top_bot: k-means with the clusters the previous period had, matched, then each split in two.
        before_split = clusters if self.hierarchy == "flat" else self.clusters_at(epoch - self.mod_epoch)
        seed = self.seed + epoch
        ids, valid = kmeans(points, labels, before_split, seed)
        if not valid:
            log.warning("D&C epoch %d: no k-means draw of %d (seeds %d-%d) gave every cluster two classes with two "
                        "images; keeping the last.", epoch, before_split, seed, seed + KMEANS_TRIALS - 1)
        changed = None
        if previous is not None and previous.max() + 1 == before_split:
            ids = match_to_previous(ids, previous, before_split)
            changed = float(np.mean(ids != previous))
        if before_split < clusters:
            ids, failed = split_in_two(points, labels, ids, before_split, seed + 1)
            if failed:
                log.warning("D&C epoch %d: splitting cluster(s) %s found no halves with two classes of two images "
                            "each; keeping the last draw.", epoch, failed)
            if self.mask_kind == "learned":
                with torch.no_grad():
                    self.masks[:clusters].copy_(self.masks[:before_split].repeat_interleave(2, dim=0))
        ids = leave_out_lone_images(ids, labels)
        ctx.sampler.set_assignments(ids)
        self.log_clusters(log, epoch, ids, labels, clusters, changed)

    @staticmethod
    def log_clusters(log, epoch, ids, labels, clusters, changed):
        kept = ids >= 0
        images = np.bincount(ids[kept], minlength=clusters)
        classes = np.bincount(cluster_class_pairs(ids, labels)[0][0], minlength=clusters)
        moved = "first clustering" if changed is None else f"{100 * changed:.1f}% of images changed cluster"
        log.info("D&C epoch %d: %d clusters; images per cluster %s; classes per cluster %s; %d images left out "
                 "(alone of their class in their cluster); %s.", epoch, clusters, images.tolist(), classes.tolist(),
                 int((~kept).sum()), moved)

    # ---- per batch ----
    def batch_mask(self, indices, device):
        if self.cluster_of is None:
            cluster = 0
        else:
            clusters = torch.unique(self.cluster_of[indices.cpu()])
            if len(clusters) != 1 or clusters[0] < 0:
                raise RuntimeError(f"A divide-and-conquer batch must hold the images of one cluster, this one has "
                                   f"cluster ids {clusters.tolist()}: the sampler is not cluster-aware.")
            cluster = int(clusters[0])
        if self.mask_kind == "fixed":
            return fixed_masks(self.current_clusters, self.embed_dim, device)[cluster]
        return F.relu(self.masks[cluster])

    def embeddings_for_base_loss(self, embeddings, labels, indices):
        if not self.masking:
            return embeddings
        return F.normalize(embeddings * self.batch_mask(indices, embeddings.device), dim=1)

    def forward(self, embeddings, labels, indices):
        if not (self.masking and self.mask_kind == "learned"):
            return embeddings.new_zeros(())
        return mask_penalty(self.masks[:self.current_clusters])
