"""Step time and memory of parameter-efficient ViT training (Ren et al. 2024) against full fine-tuning, in one run.

    .venv/bin/python scripts/bench_vit.py [--threads 2] [--batch 32] [--crops 64 224] [--steps 3]
        [--arch vit_small_patch16_224_normalize]

Each configuration runs the real training step (utilities.training.TrainingSteps: forward, the loss's own passes,
backward, optimiser step) on --steps synthetic batches (2 images per class, 100 classes) of a randomly initialised
ViT (time and memory do not depend on the weights' values), after one warm-up step, in a process of its own:
  peft            the paper's ViT-S CUB recipe: frozen ViT, 10 prompts x 12 blocks, BitFit, LayerNorm head, and
                  `--loss vptsp` with 3 class prompts x 12 blocks (the second, class-prompted pass included)
  full, vptsp     the same loss with every ViT weight trained (--vit_full_finetune)
  full, proxy     conventional full fine-tuning: proxy-anchor, one pass
All use SGD with momentum (one state tensor per trained weight). Reported per configuration:
  ms/step         median step time;
  trainable       trained parameters (model + loss) out of all;
  activations     MiB of distinct tensors autograd saves for the backward pass of one step (parameters excluded):
                  what full fine-tuning of the ViT must keep and a frozen ViT partly need not;
  grad+opt        MiB of gradients and optimiser state (2 x 4 bytes per trained parameter);
  peak RSS        the process's peak resident memory (weights, activations, allocator slack included).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIGS = {
    "peft": ["--loss", "vptsp", "--num_prompt", "10", "--prompt_depth", "12", "--vit_bitfit", "--vit_head",
             "--num_p_prompt", "3", "--p_prompt_depth", "12"],
    "full, vptsp": ["--loss", "vptsp", "--vit_full_finetune", "--vit_head", "--num_p_prompt", "3",
                    "--p_prompt_depth", "12"],
    "full, proxy": ["--loss", "proxyanchor", "--vit_full_finetune", "--vit_head"],
}
CLASSES = 100


def measure(args, flags):
    """{ms, trainable, total, activation_mib, state_mib, peak_rss_mib} of one configuration (in this process)."""
    import torch

    import architectures
    import criteria
    import parameters
    from utilities.optimizers import MAIN, NamedOptimizers, main_spec
    from utilities.training import TrainingSteps

    torch.set_num_threads(args.threads)
    opt = parameters.parse_args(["--arch", args.arch, "--embed_dim", str(args.embed_dim), "--optim", "sgd",
                                 "--not_pretrained", *flags])
    torch.manual_seed(0)
    model = architectures.select(opt.arch, opt.embed_dim, pretrained=False, options=opt)
    objective = criteria.build_objective(opt, num_classes=CLASSES, embed_dim=opt.embed_dim)
    objective.setup(SimpleNamespace(model=model, resuming=False))
    specs = {MAIN: main_spec(opt), **objective.optimizer_specs(opt, 1)}
    optimizers = NamedOptimizers(model.param_groups(opt.lr, opt.lr) + objective.param_groups(opt.lr), specs)
    steps = TrainingSteps(model, objective, optimizers, torch.amp.GradScaler("cuda", enabled=False),
                          torch.device("cpu"))
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(args.batch // 2).repeat_interleave(2)
    data = [(torch.rand(args.batch, 3, args.crop, args.crop, generator=generator), labels,
             torch.arange(args.batch), 0) for _ in range(args.steps + 1)]
    modules = [model, objective]
    params = [p for module in modules for p in module.parameters()]
    trainable = sum(p.numel() for p in params if p.requires_grad)

    # Distinct storages autograd keeps for backward during one (warm-up) step, parameters excluded.
    parameter_storages = {p.untyped_storage().data_ptr() for p in params}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        steps.run(data[:1], SimpleNamespace(step=0), desc="warm-up")
    times = []
    for batch in data[1:]:
        start = time.perf_counter()
        steps.run([batch], SimpleNamespace(step=0), desc="timed")
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * statistics.median(times), "trainable": trainable, "total": sum(p.numel() for p in params),
            "activation_mib": sum(saved.values()) / 2 ** 20, "state_mib": 2 * 4 * trainable / 2 ** 20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--crops", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--arch", default="vit_small_patch16_224_normalize")
    parser.add_argument("--embed_dim", type=int, default=384)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one configuration
    parser.add_argument("--crop", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args, CONFIGS[args.one])))
        return

    print(f"{args.arch}, random weights, {args.embed_dim}-d, batch {args.batch}, SGD, {args.threads} threads, "
          f"median of {args.steps} steps; each configuration in its own process")
    print("| crop | configuration | ms/step | x full, proxy | trainable | activations MiB | grad+opt MiB | "
          "peak RSS MiB |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for crop in args.crops:
        results = {}
        for name in CONFIGS:
            command = [sys.executable, os.path.abspath(__file__), "--one", name, "--crop", str(crop),
                       "--threads", str(args.threads), "--batch", str(args.batch), "--steps", str(args.steps),
                       "--arch", args.arch, "--embed_dim", str(args.embed_dim)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[name] = json.loads(output.strip().splitlines()[-1])
        reference = results["full, proxy"]["ms"]
        for name, r in results.items():
            share = 100 * r["trainable"] / r["total"]
            print(f"| {crop} px | {name} | {r['ms']:.0f} | {r['ms'] / reference:.2f} | {r['trainable']:,} of "
                  f"{r['total']:,} ({share:.1f}%) | {r['activation_mib']:.0f} | {r['state_mib']:.0f} | "
                  f"{r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
