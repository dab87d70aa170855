"""Images per second of our training loop against a plain Roth-style loop on the same model, data and batch, in one run.

    .venv/bin/python scripts/bench_train.py [--archs ARCH ...] [--crop PX] [--batch N] [--steps N] [--warmup N]
        [--threads N] [--workers N] [--variants {plain,amp,channels_last,compile,all} ...] [--amp {bf16,fp16}]
        [--repeats N] [--loss multisimilarity] [--dataset emoji] [--source_path data]

Per configuration (architecture, crop, batch), both loops train a randomly initialised model (--not_pretrained: the
time does not depend on the weights' values) from real images: the training split of --dataset, decoded and
augmented by the framework's training transform (random resized crop, flip, ToTensor) in --workers DataLoader
workers, batches drawn by the class-balanced sampler (class_random, 2 images per class, the same seed, so both loops
see the same batches), the same loss (--loss, default multisimilarity) and Adam at the run defaults' lr and decay.
  reference   Roth et al.'s loop, plain: for each batch of a torch DataLoader (same dataset, transform, sampler and
              workers; no pinned memory), `out = model(images.to(device))`, `loss = criterion(out["embeds"],
              labels)`, `optimizer.zero_grad(); loss.backward(); optimizer.step()`; float32, NCHW, PyTorch's backend
              defaults. Roth's own loop also copies every gradient to the CPU for logging, reads loss.item() every
              step and sets cudnn.deterministic; all left out, so this reference is faster than his.
  ours        the framework's epoch: utilities.training.Run(opt) (in a temporary --save_path), its train_epoch()
              on its own train_loader() and TrainingSteps (forward, loss, finiteness check, backward, optimiser
              step, hooks, progress bar), with the speed options of the variant. A variant names options the
              framework may or may not have (detected in parameters.build_parser(); a missing one is skipped and
              said so): plain (none; one that the dataset switches on by default, as emoji does channels_last, is
              switched off), amp (--amp, with --amp's dtype where the framework takes one), channels_last, compile,
              all (every one present).
Each loop runs --warmup steps (excluded: worker start-up, first-call allocations, compilation) then --steps timed
steps; a loop that reaches the end of the sampler's epoch starts the loader again, as the next epoch would. The
timed window runs from the request for the first timed batch to the request for the batch after the last one (on
CUDA, synchronised at both ends), so every part of a step counts, data loading included. Reported per loop:
  img/s         images of the timed steps / the window;
  ms/step       the window / --steps;
  data wait     the share of the window spent inside next() on the loader, i.e. waiting for the next batch (on CUDA
                the host's wait: the GPU may still be running queued work of the previous step meanwhile);
  x reference   our img/s over the reference's, measured in the same run.
The loops are measured --repeats times, interleaved, each repeat starting with the next loop in turn (a loop's
speed on a busy or thermally varying machine depends on when it runs: with 8 steps, one reference-then-ours pass
once gave ours 0.86x, and the reverse order 1.10x). Reported: the median over repeats of img/s, ms/step and data
wait, and the median (and range) of the per-repeat ratio to the reference of the same repeat.
Defaults: on the CPU, efficientnet_lite0_frozen_normalize at 64 px (batch 90) and resnet50_frozen_normalize at
224 px (batch 16), variant plain; on CUDA, resnet50_frozen_normalize at 224 px, batch 112, every variant.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import architectures  # noqa: E402
import criteria  # noqa: E402
import datasampler  # noqa: E402
import datasets  # noqa: E402
import parameters  # noqa: E402
from datasets.base import ImageDataset, build_transform  # noqa: E402
from utilities.training import Run, resolve_batchminer  # noqa: E402

# (crop, batch, warmup, steps) per backbone and device type; sized so that the default CPU run stays within about
# five minutes on 2 cores, and a CUDA run covers compilation in its warm-up and stays within one emoji epoch.
DEFAULTS = {
    "cpu": {"efficientnet_lite0_frozen_normalize": (64, 90, 2, 8), "resnet50_frozen_normalize": (224, 16, 1, 4)},
    "cuda": {"resnet50_frozen_normalize": (224, 112, 10, 20)},
}
# Other architectures: the dataset's default crop (0).
FALLBACK = {"cpu": (0, 16, 1, 4), "cuda": (0, 112, 10, 20)}
SPEED_OPTIONS = ("amp", "channels_last", "compile")
VARIANTS = ("plain", *SPEED_OPTIONS, "all")
ACTIONS = {action.dest: action for action in parameters.build_parser()._actions}
OFF_FORMS = {flag for action in ACTIONS.values() for flag in action.option_strings if flag.startswith("--no_")}


class TimedBatches:
    """The first warmup + steps batches of a loader (started again at its end), timing the window after the warm-up
    and the time spent inside next() within it."""

    def __init__(self, loader, warmup, steps, sync):
        self.loader, self.warmup, self.steps, self.sync = loader, warmup, steps, sync
        self.start = self.end = None
        self.waiting = 0.0

    def __len__(self):
        return self.warmup + self.steps

    def __iter__(self):
        iterator = iter(self.loader)
        for index in range(self.warmup + self.steps + 1):
            # This runs when the loop asks for batch `index`, i.e. once the step before it has finished.
            if index in (self.warmup, self.warmup + self.steps):
                self.sync()
                now = time.perf_counter()
                if index == self.warmup:
                    self.start = now
                else:
                    self.end = now
                    return
            before = time.perf_counter()
            batch = next(iterator, None)
            if batch is None:
                iterator = iter(self.loader)
                batch = next(iterator)
            if index >= self.warmup:
                self.waiting += time.perf_counter() - before
            yield batch

    def result(self, batch):
        if self.end is None:
            raise RuntimeError("the loop did not take every batch of its loader (has utilities.training changed how "
                               "an epoch gets its loader?)")
        window = self.end - self.start
        return {"img/s": batch * self.steps / window, "ms/step": 1000 * window / self.steps,
                "data wait": self.waiting / window}


def table_row(config, loop, options, results, ratios):
    """One loop's row: medians over the repeats, and the per-repeat ratios to the reference as median (range)."""
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    ratio = f"{statistics.median(ratios):.2f}"
    if len(ratios) > 1:
        ratio += f" ({min(ratios):.2f}-{max(ratios):.2f})"
    return (f"{config} | {loop} | {options} | {median['img/s']:.1f} | {median['ms/step']:.0f} | "
            f"{100 * median['data wait']:.1f} % | {ratio} |")


def framework_options(args, arch, crop, batch, save_path, extra=()):
    # Speed options that a dataset switches on by default (emoji: channels_last) are off unless the variant names them.
    off = [f"--no_{name}" for name in SPEED_OPTIONS if f"--no_{name}" in OFF_FORMS and f"--{name}" not in extra]
    return parameters.parse_args(
        ["--dataset", args.dataset, "--source_path", args.source_path, "--save_path", save_path, "--arch", arch,
         "--crop_size", str(crop), "--bs", str(batch), "--num_workers", str(args.workers), "--loss", args.loss,
         "--not_pretrained", *off, *extra])


def speed_flags(args):
    """{option: its command-line flags} for each speed option the framework has."""
    flags = {}
    for name in SPEED_OPTIONS:
        if name in ACTIONS:
            # A switch takes no value; an --amp that takes one is given the dtype asked for.
            flags[name] = [f"--{name}"] if ACTIONS[name].nargs == 0 else [f"--{name}", args.amp]
    return flags


def variant_flags(variant, available):
    """The flags of a variant, or None when the framework lacks what it names."""
    if variant == "plain":
        return []
    if variant == "all":
        return [flag for name in SPEED_OPTIONS if name in available for flag in available[name]] or None
    return available.get(variant)


def reference_loop(opt, device, warmup, steps, sync):
    data = datasets.select(opt)
    dataset = ImageDataset(data.train, build_transform(True, opt.crop_size or data.default_crop_size,
                                                       data.train_crop_scale))
    sampler = datasampler.select(opt.data_sampler, opt, data.train.labels)
    batches = TimedBatches(torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=opt.num_workers),
                           warmup, steps, sync)
    torch.manual_seed(opt.seed)
    model = architectures.select(opt.arch, opt.embed_dim, pretrained=False, options=opt).to(device)
    criterion = criteria.build_objective(opt, num_classes=data.train.num_classes, embed_dim=opt.embed_dim,
                                         batchminer=resolve_batchminer(opt)).to(device)
    optimizer = torch.optim.Adam([*model.parameters(), *criterion.parameters()], lr=opt.lr, weight_decay=opt.decay)
    # PyTorch's defaults, which Roth's code keeps: a Run of an earlier configuration may have changed them.
    torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")
    model.train()
    for images, labels, _ in batches:
        out = model(images.to(device))
        loss = criterion(out["embeds"], labels.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return batches.result(opt.bs)


def our_loop(opt, warmup, steps, sync):
    run = Run(opt)
    try:
        run.start()
        make_loader, timed = run.train_loader, []

        def timed_loader():
            timed.append(TimedBatches(make_loader(), warmup, steps, sync))
            return timed[-1]
        # The whole epoch as the run trains it (its setup, hooks and steps), on batches that are counted and timed.
        run.train_loader = timed_loader
        run.train_epoch(1)
    finally:
        run.close()
    if not timed:
        raise RuntimeError("Run.train_epoch no longer asks Run.train_loader() for its batches; adapt this script")
    return timed[0].result(opt.bs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", nargs="+", default=None, help="default: the device's configurations")
    parser.add_argument("--crop", type=int, default=None, help="pixels; default per architecture")
    parser.add_argument("--batch", type=int, default=None, help="default per architecture")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per loop; default per architecture")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first; default per architecture")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of both loops; default 2 on the CPU (the run default), 8 on CUDA")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                        help="our loop's speed options; default plain on the CPU, every variant on CUDA")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved measurements of every loop; medians are reported")
    parser.add_argument("--amp", choices=("bf16", "fp16"), default="bf16", help="dtype of the amp variants")
    parser.add_argument("--loss", default="multisimilarity")
    parser.add_argument("--dataset", default="emoji")
    parser.add_argument("--source_path", default=str(datasets.DEFAULT_SOURCE_PATH))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # The GPU consumes images faster than the run default's 2 workers decode and augment them.
    args.workers = args.workers if args.workers is not None else (8 if device.type == "cuda" else 2)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    variants = args.variants or (VARIANTS if device.type == "cuda" else ("plain",))
    available = speed_flags(args)

    print(f"device {device}, {args.threads} threads, {args.workers} workers, dataset {args.dataset}, loss {args.loss}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"framework speed options: found {' '.join(f for flags in available.values() for f in flags) or 'none'}; "
          f"absent {' '.join(f'--{name}' for name in SPEED_OPTIONS if name not in available) or 'none'}")
    archs = args.archs or list(DEFAULTS[device.type])
    rows = []
    for arch in archs:
        crop, batch, warmup, steps = DEFAULTS[device.type].get(arch, FALLBACK[device.type])
        crop, batch = args.crop if args.crop is not None else crop, args.batch or batch
        warmup, steps = args.warmup if args.warmup is not None else warmup, args.steps or steps
        with tempfile.TemporaryDirectory() as save_path:
            opt = framework_options(args, arch, crop, batch, save_path)
            crop = crop or datasets.REGISTRY.get(args.dataset).default_crop_size
            config = f"| {arch} | {crop} | {batch} | {warmup} + {steps}"
            loops = {("reference", "fp32, NCHW"): lambda: reference_loop(opt, device, warmup, steps, sync)}
            for variant in variants:
                flags = variant_flags(variant, available)
                if flags is None:
                    print(f"variant {variant}: the framework has no such option; skipped")
                    continue
                options = framework_options(args, arch, crop, batch, save_path, flags)
                loops[("ours", " ".join(flags) or "no speed option")] = \
                    lambda options=options: our_loop(options, warmup, steps, sync)
            results = {key: [] for key in loops}
            order = list(loops)
            for repeat in range(args.repeats):
                for key in order[repeat % len(order):] + order[:repeat % len(order)]:
                    results[key].append(loops[key]())
            reference = results[order[0]]
            for key in order:
                ratios = [r["img/s"] / ref["img/s"] for r, ref in zip(results[key], reference)]
                rows.append(table_row(config, *key, results[key], ratios))
    print("| arch | crop | batch | warm-up + timed steps | loop | options | img/s | ms/step | data wait "
          "| x reference |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
