"""Export a trained run: the embeddings and labels of its splits, a Faiss index of each split's gallery, and the
embedding model as TorchScript and ONNX, each loaded back and checked against the model.

    .venv/bin/python scripts/export.py <run folder> [--splits test train] [--checkpoint best|last|PATH]
        [--out DIR] [--source_path DATA] [--atol 1e-5]

Written to --out (default <run folder>/export/), for each split of --splits (train, test, val with
--use_tv_split), as PART = the split's name, or <split>_query and <split>_gallery where the dataset has a separate
gallery (inshop, vehicle_id):
  PART_embeddings.npy   float32 [N, D]: the split embedded exactly as the run's evaluation embeds it (its test
                        transform, the output of its first --evaltypes entry; utilities/run_folder.py), rows in
                        dataset order;
  PART_labels.npy       int64 [N]: class ids; PART_paths.txt: the image of each row, one absolute path a line;
  <gallery PART>.faiss  an exact Faiss index of the split's gallery (the split itself for same-set datasets), ranking
                        as the run's model selection does (the space of its first --storage_metrics entry):
                        IndexFlatL2 over the embeddings (Euclidean), or IndexFlatIP over the L2-normalised
                        embeddings (cosine; normalise queries too); index ids are row numbers;
  model.torchscript.pt  the model, traced: RGB images in [0, 1], float32 [B, 3, crop, crop] -> [B, D];
  model.onnx            the same function as ONNX (opset 17), input "images", output "embeddings", any B;
  manifest.json         checkpoint, epoch, architecture, space, input size and preprocessing, class names, the files
                        and the checks' maximum absolute differences;
  README.md             how to use them (also printed): embed an image with model.onnx, search the index with it,
                        map the ids found to labels and paths.

Both exported models are loaded back (torch.jit.load, onnxruntime) and run on real images of the first split
against the original model on the CPU; a maximum absolute difference above --atol (default 1e-5) is an error (exit
status 1). The ONNX export needs the package onnx and its check onnxruntime: without them the script stops before
doing anything, naming the missing ones (exit status 2).

Both exports go through TorchScript (torch.jit.trace, and torch.onnx's TorchScript-based exporter), which PyTorch
2.14 deprecates but runs; their deprecation notices are silenced. torch.onnx's newer torch.export-based exporter
needs one more package (onnxscript) and took 3x longer (8 s against 2.4 s for a ResNet-18 at 32 px).
"""
import argparse
import importlib.util
import json
import logging
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script from anywhere

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets.base import ImageDataset  # noqa: E402
from metrics.base import SPACES  # noqa: E402
from utilities.argtypes import positive_float  # noqa: E402
from utilities.errors import ConfigError  # noqa: E402
from utilities.run_folder import embed_split, evaluation_split, open_run  # noqa: E402

LOG = logging.getLogger("export")

ONNX_OPSET = 17
ONNX_PACKAGES = ("onnx", "onnxruntime")
CHECK_IMAGES = 5  # images each exported model is checked on; it is traced and exported with 2 of them


class ExportMismatch(Exception):
    """An exported model, loaded back, does not reproduce the original model's output within --atol."""


def build_parser():
    parser = argparse.ArgumentParser(description="Export a run's embeddings, a Faiss index and the model (see the "
                                                 "module docstring).")
    parser.add_argument("run_folder", help="A run folder written by main.py (<save_path>/<dataset>/<group>_s<seed>).")
    parser.add_argument("--splits", nargs="+", default=["test"],
                        help="Splits to export: train, test (default), val (runs trained with --use_tv_split).")
    parser.add_argument("--checkpoint", default="best",
                        help="best (default: the best checkpoint of the run's first storage metric, else the last), "
                             "last, or the path of a checkpoint file.")
    parser.add_argument("--out", default="", help="Output folder; default <run folder>/export/.")
    parser.add_argument("--source_path", default="", help="Where the run's dataset lies, if not where it was.")
    parser.add_argument("--atol", default=1e-5, type=positive_float,
                        help="Largest absolute difference allowed between an exported model's output and the "
                             "original's (default 1e-5).")
    return parser


def check_onnx_packages():
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"The ONNX export needs the packages {', '.join(ONNX_PACKAGES)} (onnx for torch.onnx's "
                          f"exporter, onnxruntime to check the exported model); missing: {', '.join(missing)}. "
                          f"Install them with: pip install {' '.join(missing)}")


def split_parts(data, name):
    """[(PART, Split)] of a split name (see the module docstring) and the PART of its gallery."""
    if name == "train":
        return [("train", data.train)], "train"
    split = evaluation_split(data, name, flag="--splits")
    if split.gallery is None:
        return [(name, split.query)], name
    return [(f"{name}_query", split.query), (f"{name}_gallery", split.gallery)], f"{name}_gallery"


def write_part(out, part, embeddings, labels, split):
    np.save(os.path.join(out, f"{part}_embeddings.npy"), embeddings)
    np.save(os.path.join(out, f"{part}_labels.npy"), labels)
    with open(os.path.join(out, f"{part}_paths.txt"), "w") as f:
        f.writelines(os.path.abspath(path) + "\n" for path in split.paths)
    return [f"{part}_embeddings.npy", f"{part}_labels.npy", f"{part}_paths.txt"]


def build_index(embeddings, space):
    """An exact Faiss index of the gallery embeddings ranking as `space` does (see the module docstring)."""
    vectors = SPACES[space](embeddings)
    index = faiss.IndexFlatIP(vectors.shape[1]) if space == "cosine" else faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    return index


def readme_text(index_file, query_part, gallery_part, image_path, run):
    """README.md: embed an image with model.onnx, search the index with it, map the ids to labels and paths."""
    resize = round(run.crop * 256 / 224)
    normalise = ("query /= np.linalg.norm(query, axis=1, keepdims=True)  # cosine space: the index holds unit "
                 "vectors\n" if run.space == "cosine" else "")
    order = "inner products, largest" if run.space == "cosine" else "squared L2 distances, smallest"
    same_set = query_part == gallery_part
    note = ("The split is its own gallery, so an image of it finds itself first." if same_set else
            f"The index holds the gallery ({gallery_part}); the queries ({query_part}) are not in it.")
    code = f"""import json

import faiss
import numpy as np
import onnxruntime
from PIL import Image
from torchvision import transforms

# Embed an image as the run's evaluation does (or take a row of {query_part}_embeddings.npy).
preprocess = transforms.Compose([transforms.Resize({resize}), transforms.CenterCrop({run.crop}), transforms.ToTensor()])
image = Image.open("{image_path}")
if image.has_transparency_data:  # transparent images are composited onto white, as the run's data loading does
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
query = session.run(None, {{"images": preprocess(image.convert("RGB"))[None].numpy()}})[0]
{normalise}
# Search the exact index: ids are rows of the gallery's files.
index = faiss.read_index("{index_file}")
labels = np.load("{gallery_part}_labels.npy")
paths = open("{gallery_part}_paths.txt").read().splitlines()
names = json.load(open("manifest.json"))["class_names"]["{gallery_part}"]
scores, ids = index.search(query, 5)  # {order} first
for score, i in zip(scores[0], ids[0]):
    print(f"{{score:.4f}}  class {{labels[i]}} ({{names[labels[i]]}})  {{paths[i]}}")
"""
    return (f"# Searching the exported index\n\nRun in this folder ({run.space} space, exact search). {note}\n\n"
            f"```python\n{code}```\n")


def search_first_query(out, index_file, query_part, gallery_part, space, names):
    """Lines "score  class label (name)  path" of the 5 nearest gallery items of the first query, read back from
    the exported files as the README does."""
    index = faiss.read_index(os.path.join(out, index_file))
    query = SPACES[space](np.load(os.path.join(out, f"{query_part}_embeddings.npy"))[:1])
    labels = np.load(os.path.join(out, f"{gallery_part}_labels.npy"))
    with open(os.path.join(out, f"{gallery_part}_paths.txt")) as f:
        paths = f.read().splitlines()
    scores, ids = index.search(query, min(5, index.ntotal))
    return [f"{score:.4f}  class {labels[i]} ({names[labels[i]]})  {paths[i]}" for score, i in zip(scores[0], ids[0])]


def export_split(out, run, named_splits, gallery_part):
    """Write the .npy and path files of each part and the gallery's Faiss index; returns (files, class names)."""
    files, class_names = [], {}
    for part, split in named_splits:
        embeddings, labels = embed_split(run.model, split, run.transform, run.opt, run.device, run.output)
        files += write_part(out, part, embeddings, labels, split)
        class_names[part] = list(split.readable_names or split.class_names)
        LOG.info("%s: %d x %d embeddings of %d classes.", part, *embeddings.shape, len(np.unique(labels)))
        if part == gallery_part:
            faiss.write_index(build_index(embeddings, run.space), os.path.join(out, f"{gallery_part}.faiss"))
            files.append(f"{gallery_part}.faiss")
    return files, class_names


class EmbeddingsOnly(torch.nn.Module):
    """The exported function: images -> the run's evaluated output (a tensor, not the model's dict)."""

    def __init__(self, model, key):
        super().__init__()
        self.model = model
        self.key = key

    def forward(self, images):
        return self.model(images)[self.key]


def check_images(split, transform, count):
    """float32 [count, 3, crop, crop]: the first images of the split through the evaluation transform."""
    images = ImageDataset(split, transform)
    return torch.stack([images[i][0] for i in range(min(count, len(images)))])


def max_difference(name, output, reference, atol):
    difference = float(np.abs(np.asarray(output, dtype=np.float64) - reference).max())
    LOG.info("%s loaded back: max |difference| to the model's output %.3g (allowed %.3g) on %d images.", name,
             difference, atol, len(reference))
    if not difference <= atol:
        raise ExportMismatch(f"The {name} export does not reproduce the model: max |difference| {difference:.3g} "
                             f"on {len(reference)} images, above --atol {atol:g}. The files are left in place for "
                             f"inspection; do not use them.")
    return difference


def export_models(model, key, images, out, atol):
    """Write model.torchscript.pt and model.onnx, load each back and check it; returns the max differences."""
    import onnxruntime  # optional: checked for by check_onnx_packages
    exported = EmbeddingsOnly(model, key).eval()
    example = images[:2]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice, see the module docstring
        reference = exported(images).double().numpy()
        torch.jit.save(torch.jit.trace(exported, example), os.path.join(out, "model.torchscript.pt"))
        scripted = torch.jit.load(os.path.join(out, "model.torchscript.pt"))(images).numpy()
    differences = {"torchscript": max_difference("TorchScript", scripted, reference, atol)}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the same notice for the TorchScript-based exporter
        torch.onnx.export(exported, (example,), os.path.join(out, "model.onnx"), dynamo=False,
                          opset_version=ONNX_OPSET, input_names=["images"], output_names=["embeddings"],
                          dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}})
    session = onnxruntime.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
    output = session.run(None, {"images": images.numpy()})[0]
    differences["onnx"] = max_difference(f"ONNX (opset {ONNX_OPSET})", output, reference, atol)
    return differences


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        check_onnx_packages()
        run = open_run(args.run_folder, args.checkpoint, args.source_path)
        parts = [split_parts(run.data, name) for name in dict.fromkeys(args.splits)]
        run_dir = args.run_folder if os.path.isdir(args.run_folder) else os.path.dirname(args.run_folder)
        out = args.out or os.path.join(run_dir, "export")
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--out {out}: cannot create the folder ({error}).") from error

        files, class_names = [], {}
        for named_splits, gallery_part in parts:
            split_files, split_class_names = export_split(out, run, named_splits, gallery_part)
            files += split_files
            class_names.update(split_class_names)
        # The README and the example printed: the first split's first query searched in its gallery.
        (query_part, query_split), gallery_part = parts[0][0][0], parts[0][1]
        readme = readme_text(f"{gallery_part}.faiss", query_part, gallery_part, os.path.abspath(query_split.paths[0]),
                             run)
        example = search_first_query(out, f"{gallery_part}.faiss", query_part, gallery_part, run.space,
                                     class_names[gallery_part])

        model = run.model.model.cpu()  # the FrozenModel's plain model, exported on the CPU
        images = check_images(query_split, run.transform, CHECK_IMAGES)
        differences = export_models(model, run.output, images, out, args.atol)
        files += ["model.torchscript.pt", "model.onnx", "manifest.json", "README.md"]
        manifest = {
            "checkpoint": os.path.abspath(run.info.path), "epoch": run.info.epoch, "arch": run.info.arch,
            "embed_dim": run.info.embed_dim, "output": run.output, "space": run.space,
            "input": {"shape": ["batch", 3, run.crop, run.crop], "dtype": "float32", "values": "RGB in [0, 1]",
                      "preprocessing": f"resize the shorter side to {round(run.crop * 256 / 224)} px, centre-crop "
                                       f"{run.crop} x {run.crop} (the model normalises its input itself)"},
            "onnx_opset": ONNX_OPSET, "max_abs_difference": differences, "files": files, "class_names": class_names,
        }
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        with open(os.path.join(out, "README.md"), "w") as f:
            f.write(readme)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    except ExportMismatch as error:
        LOG.error("%s", error)
        return 1
    print(f"Exported to {out}. Searching the index ({out}/README.md):\n\n{readme}\nThe first query "
          f"({query_part} row 0) in {gallery_part}.faiss:")
    print("\n".join(example))
    return 0


if __name__ == "__main__":
    sys.exit(main())
