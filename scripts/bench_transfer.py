"""Training-step time of a student with and without a frozen teacher (embedding transfer), in one run.

    .venv/bin/python scripts/bench_transfer.py [--threads 2] [--batch 90] [--crop 64] [--steps 6] [--repeats 3]
        [--student efficientnet_lite0_frozen_normalize] [--student_dim 64]
        [--teacher efficientnet_lite0_frozen_normalize] [--teacher_dim 512]

Each configuration runs the real training step (utilities.training.TrainingSteps: forward, the context the loss
needs, loss, backward, optimiser step) on --steps synthetic batches of --batch images (2 per class) at --crop
pixels, randomly initialised weights (the time does not depend on their values), after one warm-up batch; the
median over --repeats passes is reported per step:
  plain              the student with proxy-anchor, from labels (no teacher);
  relaxed, 1 view    relaxed contrastive, the teacher's embeddings computed in the step;
  relaxed, 2 views   the same on two views of each image (2 x batch images through student and teacher);
plus the teacher's forward pass alone on the batch, the part of the step the teacher costs.
"""
import argparse
import os
import statistics
import sys
import time
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import architectures  # noqa: E402
import criteria  # noqa: E402
import parameters  # noqa: E402
from utilities.model_loading import FrozenModel  # noqa: E402
from utilities.optimizers import MAIN, NamedOptimizers, main_spec  # noqa: E402
from utilities.training import TrainingSteps  # noqa: E402


def batches(args, views, generator):
    shape = (args.batch, views, 3, args.crop, args.crop) if views > 1 else (args.batch, 3, args.crop, args.crop)
    labels = torch.arange(args.batch // 2).repeat_interleave(2)
    return [(torch.rand(shape, generator=generator), labels, torch.arange(args.batch), 0)
            for _ in range(args.steps + 1)]


def step_ms(args, loss_flags, teacher):
    opt = parameters.parse_args(["--arch", args.student, "--embed_dim", str(args.student_dim), *loss_flags])
    torch.manual_seed(0)
    model = architectures.select(args.student, args.student_dim, pretrained=False)
    objective = criteria.build_objective(opt, num_classes=args.batch // 2, embed_dim=args.student_dim)
    optimizers = NamedOptimizers(model.param_groups(opt.lr, opt.lr) + objective.param_groups(opt.lr),
                                 {MAIN: main_spec(opt)})
    steps = TrainingSteps(model, objective, optimizers, torch.amp.GradScaler("cuda", enabled=False),
                          torch.device("cpu"), teacher=teacher)
    data = batches(args, objective.VIEWS, torch.Generator().manual_seed(1))
    passes = []
    for _ in range(args.repeats):
        steps.run(data[:1], SimpleNamespace(step=0), desc="warm-up")
        start = time.perf_counter()
        steps.run(data[1:], SimpleNamespace(step=0), desc="timed")
        passes.append((time.perf_counter() - start) / args.steps)
    return 1000 * statistics.median(passes)


def teacher_forward_ms(args, teacher, views):
    images = torch.rand(args.batch * views, 3, args.crop, args.crop, generator=torch.Generator().manual_seed(2))
    times = []
    with torch.no_grad():
        teacher(images)
        for _ in range(args.repeats * args.steps):
            start = time.perf_counter()
            teacher(images)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=90)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--student", default="efficientnet_lite0_frozen_normalize")
    parser.add_argument("--student_dim", type=int, default=64)
    parser.add_argument("--teacher", default="efficientnet_lite0_frozen_normalize")
    parser.add_argument("--teacher_dim", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    teacher = FrozenModel(architectures.select(args.teacher, args.teacher_dim, pretrained=False).eval())

    rows = [("plain (proxyanchor, no teacher)", step_ms(args, ["--loss", "proxyanchor"], None)),
            ("relaxed contrastive, 1 view", step_ms(args, ["--loss", "relaxed_contrastive"], teacher)),
            ("relaxed contrastive, 2 views", step_ms(args, ["--loss", "relaxed_contrastive", "--views", "2"],
                                                    teacher)),
            ("teacher forward alone, 1 view", teacher_forward_ms(args, teacher, 1)),
            ("teacher forward alone, 2 views", teacher_forward_ms(args, teacher, 2))]
    plain = rows[0][1]
    print(f"student {args.student} {args.student_dim}-d, teacher {args.teacher} {args.teacher_dim}-d, batch "
          f"{args.batch}, {args.crop} px, {args.threads} threads, median of {args.repeats} passes")
    print("| step | ms | x plain step |\n| --- | --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.0f} | {ms / plain:.2f} |")


if __name__ == "__main__":
    main()
