"""Named optimisers and their schedules, built from the parameter groups the components declare.

The model (`EmbeddingModel.param_groups`) and each loss or term (`param_groups`) declare their groups. Every group
is a dict for torch.optim with a "name" (logged as lr_<name>) and optionally:
  "optimizer": the name of the optimiser it belongs to (default "main");
  "warmup_frozen": True for groups that do not learn during the first --warmup epochs (the backbone).
"main" is configured by the command line (--optim, --decay, --sgd_momentum, --scheduler, --tau, --gamma). A
component that needs another optimiser (its own learning-rate schedule, stepped per epoch or per iteration) declares
it in `optimizer_specs(opt, steps_per_epoch)` -> {name: OptimizerSpec}. Checkpoints keep each optimiser's and
scheduler's state by name, and resume restores them by name.
"""
import dataclasses

import torch

from utilities.errors import ConfigError

MAIN = "main"


def cosine_schedule(opt):
    """Cosine annealing from the group's lr to --lr_cosine_min over --lr_cosine_length epochs (-1: --n_epochs)."""
    length = opt.lr_cosine_length if opt.lr_cosine_length > 0 else max(opt.n_epochs, 1)
    return lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=length,
                                                                        eta_min=opt.lr_cosine_min)


def step_schedule(opt):
    """The scheduler factory of the command line's --scheduler/--tau/--gamma/--n_epochs (stepped per epoch)."""
    def build(optimizer):
        if opt.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=opt.tau[0], gamma=opt.gamma)
        if opt.scheduler == "multistep":
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=opt.tau, gamma=opt.gamma)
        if opt.scheduler == "cosine":
            return cosine_schedule(opt)(optimizer)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return build


@dataclasses.dataclass
class OptimizerSpec:
    kind: str = "adam"                   # adam, adamw or sgd
    weight_decay: float = 0.0
    momentum: float = 0.9                # sgd only
    schedule: object = None              # callable(optimizer) -> torch scheduler, or None for a constant lr
    step_per: str = "epoch"              # when the scheduler steps: "epoch" or "iteration"

    def build(self, groups):
        if self.kind == "adam":
            optimizer = torch.optim.Adam(groups, weight_decay=self.weight_decay)
        elif self.kind == "adamw":
            optimizer = torch.optim.AdamW(groups, weight_decay=self.weight_decay)
        elif self.kind == "sgd":
            optimizer = torch.optim.SGD(groups, momentum=self.momentum, weight_decay=self.weight_decay)
        else:
            raise ConfigError(f"Unknown optimiser kind '{self.kind}'; valid: adam, adamw, sgd.")
        schedule = self.schedule or (lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0))
        return optimizer, schedule(optimizer)


def main_spec(opt):
    return OptimizerSpec(kind=opt.optim, weight_decay=opt.decay, momentum=opt.sgd_momentum,
                         schedule=step_schedule(opt), step_per="epoch")


class NamedOptimizers:
    def __init__(self, groups, specs):
        by_name = {}
        for group in groups:
            by_name.setdefault(group.get("optimizer", MAIN), []).append(group)
        missing = sorted(set(by_name) - set(specs))
        if missing:
            raise ConfigError(f"Parameter groups ask for optimiser(s) {', '.join(missing)} that no component "
                              f"declares (declared: {', '.join(sorted(specs))}).")
        self.specs = {name: specs[name] for name in sorted(by_name, key=lambda n: (n != MAIN, n))}
        self.optimizers, self.schedulers = {}, {}
        for name, spec in self.specs.items():
            self.optimizers[name], self.schedulers[name] = spec.build(by_name[name])

    def groups(self):
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def learning_rates(self):
        return {f"lr_{group['name']}": group["lr"] for group in self.groups()}

    def set_warmup(self, frozen):
        """At every epoch start: every group learns again, except those declared warmup_frozen while `frozen`
        (the --warmup epochs). A frozen parameter gets no gradient, so no optimiser moves it (nor decays it)."""
        for group in self.groups():
            for parameter in group["params"]:
                parameter.requires_grad_(not (frozen and group.get("warmup_frozen")))

    def freeze(self, names):
        """Freeze the named groups until the next epoch start (a component's on_epoch_start hook calls this)."""
        unknown = set(names) - {group["name"] for group in self.groups()}
        if unknown:
            raise ValueError(f"No parameter group named {', '.join(sorted(unknown))}.")
        for group in self.groups():
            if group["name"] in names:
                for parameter in group["params"]:
                    parameter.requires_grad_(False)

    def zero_grad(self):
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def step(self, scaler):
        for optimizer in self.optimizers.values():
            scaler.step(optimizer)
        scaler.update()
        self._step_schedules("iteration")

    def epoch_end(self):
        self._step_schedules("epoch")

    def _step_schedules(self, when):
        for name, spec in self.specs.items():
            if spec.step_per == when:
                self.schedulers[name].step()

    def state_dict(self):
        return {"optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()}}

    def load_state_dict(self, state):
        if set(state["optimizers"]) != set(self.optimizers):
            raise ConfigError(f"The checkpoint has optimisers {', '.join(sorted(state['optimizers']))} but this run "
                              f"builds {', '.join(sorted(self.optimizers))}.")
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
            self.schedulers[name].load_state_dict(state["schedulers"][name])
