"""Pictures of what a trained run retrieves: a grid of queries with their nearest neighbours, and a 2-D map of the
embeddings coloured by class.

    .venv/bin/python scripts/show_retrievals.py <run folder> [--split test] [--k 5] [--queries 8] [--seed 0]
        [--out FILE.png] [--map_out FILE.png] [--checkpoint best|last|PATH] [--source_path DATA]

The split is embedded as the run's evaluation embeds it (utilities/run_folder.py) and ranked as the evaluation
ranks it, in the space of the run's first --storage_metrics entry: a query is never its own neighbour (excluded by
index), ties go to the lower index, and datasets with a separate gallery (inshop, vehicle_id) search the gallery.

Grid (--out, default <run folder>/retrievals_<split>.png): one row per query, the query and then its k nearest
neighbours, each in a cell of CELL_WIDTH x CELL_HEIGHT pixels (the picture is (k + 1) x 128 by queries x 152 px):
blue frame for the query, green for a neighbour of its class (a hit, marked with a tick), red for a miss (a
cross). The queries are drawn with --seed among those that have a class mate in the gallery, from the labels alone,
so runs on the same dataset show the same queries.

Map (--map_out, default <run folder>/embedding_map_<split>.png, 800 x 800 px): every image of the split (query and
gallery images together where they are separate) projected to 2-D, with UMAP when the umap-learn package is
installed, else with scikit-learn's t-SNE; the title and the log name the method. Both PNGs have a 256-colour
palette, which keeps the emoji grid near 110 KB.

Both are added to the run's own W&B run when the run was trained with --log_online and the W&B server is
reachable now with the credentials wandb finds (WANDB_API_KEY, `wandb login`); otherwise a log line says why not
and the pictures are only written to disk.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script from anywhere

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from datasets.base import ImageDataset  # noqa: E402
from metrics.base import SPACES  # noqa: E402
from utilities.argtypes import nonnegative_int, positive_int  # noqa: E402
from utilities.errors import ConfigError  # noqa: E402
from utilities.online_logging import WandbLogger, requested_mode  # noqa: E402 (wandb itself is imported on use)
from utilities.run_folder import embed_evaluation_split, evaluation_split, open_run, ranked_neighbours  # noqa: E402

LOG = logging.getLogger("show_retrievals")

CELL_WIDTH, CELL_HEIGHT = 128, 152  # pixels: a square image area with its caption above
PAD = 6  # pixels around a cell's image area
DPI = 100
FRAME = {"query": "#1f5fbf", "hit": "#1a9c3a", "miss": "#d62728"}
MAP_SIZE = 800  # pixels, square
EXACT_TSNE_MAX = 1000  # points


def build_parser():
    parser = argparse.ArgumentParser(description="Retrieval grid and embedding map of a trained run (see the "
                                                 "module docstring).")
    parser.add_argument("run_folder", help="A run folder written by main.py (<save_path>/<dataset>/<group>_s<seed>).")
    parser.add_argument("--split", default="test", help="Evaluation split: test (default), or val for runs trained "
                                                        "with --use_tv_split.")
    parser.add_argument("--k", default=5, type=positive_int, help="Neighbours shown per query (default 5).")
    parser.add_argument("--queries", default=8, type=positive_int, help="Queries shown (default 8).")
    parser.add_argument("--seed", default=0, type=nonnegative_int,
                        help="Seed of the query draw and of the 2-D projection (default 0).")
    parser.add_argument("--out", default="", help="The grid's PNG file; default <run folder>/retrievals_<split>.png.")
    parser.add_argument("--map_out", default="",
                        help="The map's PNG file; default <run folder>/embedding_map_<split>.png.")
    parser.add_argument("--checkpoint", default="best",
                        help="best (default: the best checkpoint of the run's first storage metric, else the last), "
                             "last, or the path of a checkpoint file.")
    parser.add_argument("--source_path", default="", help="Where the run's dataset lies, if not where it was.")
    return parser


def draw_queries(query_labels, gallery_labels, same_set, n, seed):
    """Sorted indices of n queries drawn with `seed` among those with a class mate in the gallery (the queries the
    evaluation scores); from the labels only, so every run on the dataset gets the same ones."""
    classes, counts = np.unique(gallery_labels, return_counts=True)
    position = np.minimum(np.searchsorted(classes, query_labels), len(classes) - 1)
    mates = np.where(classes[position] == query_labels, counts[position], 0) - same_set
    eligible = np.flatnonzero(mates > 0)
    if len(eligible) == 0:
        raise ConfigError("No query of this split has another image of its class in the gallery: there is nothing "
                          "to retrieve.")
    return np.sort(np.random.default_rng(seed).choice(eligible, size=min(n, len(eligible)), replace=False))


def retrievals(query_embeddings, query_labels, gallery_embeddings, gallery_labels, queries, k, space):
    """(neighbours int64 [n, k], hits bool [n, k]) of the chosen queries; gallery_embeddings None: same-set."""
    same_set = gallery_embeddings is None
    if same_set:
        gallery_embeddings, gallery_labels = query_embeddings, query_labels
    neighbours = ranked_neighbours(query_embeddings[queries], gallery_embeddings, k,
                                   self_index=queries if same_set else None, space=space)
    return neighbours, gallery_labels[neighbours] == query_labels[queries][:, None]


def class_name(split, label, width=20):
    names = split.readable_names or split.class_names
    name = str(names[label])
    return name if len(name) <= width else name[:width - 1] + "…"


def draw_grid(path, query_split, gallery_split, queries, neighbours, hits):
    """The grid PNG (see the module docstring): queries x (k + 1) cells of CELL_WIDTH x CELL_HEIGHT pixels."""
    rows, columns = neighbours.shape[0], neighbours.shape[1] + 1
    width, height = columns * CELL_WIDTH, rows * CELL_HEIGHT
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    images = {id(split): ImageDataset(split, transform=None) for split in (query_split, gallery_split)}
    for row, query in enumerate(queries):
        cells = [(query_split, query, "query", f"query {query}")]
        for rank, (item, hit) in enumerate(zip(neighbours[row], hits[row]), start=1):
            cells.append((gallery_split, item, "hit" if hit else "miss", f"{rank} {'✓' if hit else '✗'} #{item}"))
        for column, (split, index, kind, caption) in enumerate(cells):
            left = (column * CELL_WIDTH + PAD) / width
            bottom = 1 - ((row + 1) * CELL_HEIGHT - PAD) / height
            axes = figure.add_axes((left, bottom, (CELL_WIDTH - 2 * PAD) / width, (CELL_WIDTH - 2 * PAD) / height))
            image = images[id(split)].split_image(int(index))
            image.thumbnail((2 * CELL_WIDTH, 2 * CELL_WIDTH))
            axes.imshow(image)
            axes.set_xticks([])
            axes.set_yticks([])
            for spine in axes.spines.values():
                spine.set_edgecolor(FRAME[kind])
                spine.set_linewidth(4)
            axes.set_title(f"{caption}\n{class_name(split, split.labels[index])}", fontsize=7, color=FRAME[kind], pad=3)
    save_figure(figure, path)


def project_2d(embeddings, seed):
    """(points float [N, 2], method name): UMAP when the umap package is installed, else scikit-learn's t-SNE."""
    try:
        import umap
    except ImportError:
        umap = None
    n = len(embeddings)
    if umap is not None:
        reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), random_state=seed)
        return reducer.fit_transform(embeddings), "UMAP"
    from sklearn.manifold import TSNE
    # Perplexity must stay below the number of points; 30 (the usual) for any real split. Below about a thousand
    # points exact gradients are faster than Barnes-Hut's approximation, whose overhead per iteration dominates.
    tsne = TSNE(n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 3)), init="pca", random_state=seed,
                method="exact" if n <= EXACT_TSNE_MAX else "barnes_hut")
    return tsne.fit_transform(embeddings), "t-SNE"


def draw_map(path, embeddings, labels, split_name, seed, space):
    """The 2-D map PNG of the embeddings (in the run's ranking space) coloured by class; returns the method."""
    if len(embeddings) < 3:
        raise ConfigError(f"The {split_name} split has {len(embeddings)} images; a 2-D map needs at least 3.")
    points, method = project_2d(SPACES[space](embeddings), seed)
    classes, index = np.unique(labels, return_inverse=True)
    # Classes get hues in a seeded random order, so that classes next to each other in label order differ.
    hue = np.random.default_rng(seed).permutation(len(classes))[index] / len(classes)
    figure = plt.figure(figsize=(MAP_SIZE / DPI, MAP_SIZE / DPI), dpi=DPI)
    axes = figure.add_axes((0.03, 0.03, 0.94, 0.89))
    size = float(np.clip(4000 / len(labels), 4, 40))  # marker area: large for a few points, small for thousands
    axes.scatter(points[:, 0], points[:, 1], c=hue, cmap="hsv", vmin=0, vmax=1, s=size, alpha=0.8, linewidths=0)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"{method} of the {split_name} embeddings ({space} space)\n{len(labels)} images of "
                   f"{len(classes)} classes, coloured by class", fontsize=11)
    save_figure(figure, path)
    return method


def save_figure(figure, path):
    """The figure as a PNG with an adaptive 256-colour palette: a third of the size of full colour for these
    pictures, without a visible difference."""
    try:
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
        image = Image.fromarray(pixels).quantize(256, method=Image.Quantize.FASTOCTREE)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        image.save(path, format="PNG", optimize=True)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write the picture ({error}).") from error
    finally:
        plt.close(figure)


class OnlineRunLogger(WandbLogger):
    """The run's own W&B run, resumed online only (`run` None when it cannot be): WandbLogger.__init__ falls back
    to an offline run, which for pictures already on disk would only duplicate them."""

    def __init__(self, opt, run_dir):  # noqa - deliberately not WandbLogger.__init__, see above
        import wandb
        self.wandb = wandb
        init_args = dict(project=opt.project, group=opt.group, name=f"{opt.group}_s{opt.seed}", dir=run_dir,
                         resume="allow", id=self.run_id(run_dir))
        self.run = self.start_online("", init_args) if requested_mode() == "online" else None


def log_online(opt, run_dir, pictures, epoch):
    """Add the pictures ({key: PNG path}) to the run's own W&B run if it logged online and the server is reachable
    now; returns whether they were logged. Without one, says why not: an offline run of their own would only
    duplicate files already on disk."""
    if not opt.log_online:
        LOG.info("W&B: the run was trained without --log_online; the pictures are only written to disk.")
        return False
    if not os.path.isfile(os.path.join(run_dir, "wandb_id.txt")):
        LOG.info("W&B: %s has no wandb_id.txt naming its W&B run; the pictures are only written to disk.", run_dir)
        return False
    try:
        logger = OnlineRunLogger(opt, run_dir)
    except ImportError as error:
        LOG.info("W&B: wandb cannot be imported (%s); the pictures are only written to disk.", error)
        return False
    if logger.run is None:
        LOG.info("W&B: not reachable with the credentials at hand (see above); the pictures are only written to "
                 "disk.")
        return False
    logger.log({key: logger.wandb.Image(path) for key, path in pictures.items()}, epoch)
    LOG.info("W&B: added %s to run %s.", ", ".join(pictures), logger.run.id)
    logger.finish()
    return True


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        run = open_run(args.run_folder, args.checkpoint, args.source_path)
        split = evaluation_split(run.data, args.split)
        query, gallery = embed_evaluation_split(run.model, split, run.transform, run.opt, run.device,
                                                run.output)
        same_set = split.gallery is None
        run_dir = args.run_folder if os.path.isdir(args.run_folder) else os.path.dirname(args.run_folder)
        grid_path = args.out or os.path.join(run_dir, f"retrievals_{args.split}.png")
        map_path = args.map_out or os.path.join(run_dir, f"embedding_map_{args.split}.png")

        queries = draw_queries(query[1], query[1] if same_set else gallery[1], same_set, args.queries, args.seed)
        neighbours, hits = retrievals(*query, *gallery, queries, args.k, run.space)
        draw_grid(grid_path, split.query, split.query if same_set else split.gallery, queries, neighbours, hits)
        LOG.info("Grid of %d queries x %d neighbours (%s ranking, %.0f%% hits) written to %s.", len(queries),
                 neighbours.shape[1], run.space, 100 * hits.mean(), grid_path)

        embeddings = query[0] if same_set else np.concatenate([query[0], gallery[0]])
        labels = query[1] if same_set else np.concatenate([query[1], gallery[1]])
        method = draw_map(map_path, embeddings, labels, args.split, args.seed, run.space)
        LOG.info("%s map of %d %s embeddings written to %s.", method, len(labels), args.split, map_path)
        log_online(run.opt, run_dir, {f"retrievals/{args.split}": grid_path, f"embedding_map/{args.split}": map_path},
                   run.info.epoch)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
