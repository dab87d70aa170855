"""The training objective: the base loss (`--loss`, with its batchminer rules) plus weighted terms (regularisers/).

    objective = criteria.build_objective(opt, num_classes=C, embed_dim=D, batchminer=miner)
    total = objective(embeddings, labels, **context)      # base(E') + sum_k w_k * term_k(E)
    objective.last_values                                   # {"loss_<base>": v, "loss_<term>": v} of that call

The objective merges what its parts declare: `NEEDS` (union, checked against CONTEXT_KEYS), `VIEWS` (the parts that
declare more than one must agree with each other and with --views; otherwise --views decides), optimiser groups, hooks (each part's, in order: base first) and state (one state dict with `base.` and
`terms.<name>.` entries). E' is E after every term's `embeddings_for_base_loss`, in term order (the identity
for most terms; divide and conquer masks it per cluster); the terms themselves see E.
"""
import torch

from utilities.errors import ConfigError

# What the training loop can put in a loss's context (criteria/base.py says what each holds).
CONTEXT_KEYS = frozenset({"features", "logits", "intermediate", "images", "indices", "teacher_embeds",
                          "teacher_features", "teacher_intermediate", "views"})
TEACHER_KEYS = frozenset({"teacher_embeds", "teacher_features", "teacher_intermediate"})


def check_needs(name, needs):
    unknown = sorted(set(needs) - CONTEXT_KEYS)
    if unknown:
        raise ConfigError(f"{name} declares NEEDS {', '.join(map(repr, unknown))}, which the training loop does "
                          f"not provide; valid keys: {', '.join(sorted(CONTEXT_KEYS))}.")


class Objective(torch.nn.Module):
    def __init__(self, base, terms, views=1):
        """base: a Criterion; terms: {name: (weight, Regulariser)}; views: augmentations per image asked for on the
        command line (--views)."""
        super().__init__()
        self.base = base
        self.terms = torch.nn.ModuleDict({name: term for name, (_, term) in terms.items()})
        self.weights = {name: weight for name, (weight, _) in terms.items()}
        self.base_name = base.registry_name
        for part_name, part in self.parts():
            check_needs(f"'{part_name}'", part.NEEDS)
        self.NEEDS = frozenset().union(*(part.NEEDS for _, part in self.parts()))
        # A part that declares VIEWS > 1 needs exactly that many; the others work with any number.
        declared = {part.VIEWS for _, part in self.parts() if part.VIEWS > 1}
        if len(declared) > 1 or (declared and views > 1 and views not in declared):
            raise ConfigError(f"The loss and its terms disagree on views per image: "
                              f"{', '.join(f'{n}: {p.VIEWS}' for n, p in self.parts())}, --views {views}.")
        self.VIEWS = declared.pop() if declared else views
        self.last_values = {}

    def parts(self):
        return [(self.base_name, self.base), *self.terms.items()]

    def forward(self, embeddings, labels, **context):
        def needed(part):
            return {k: v for k, v in context.items() if k in part.NEEDS}
        base_embeddings = embeddings
        for term in self.terms.values():
            base_embeddings = term.embeddings_for_base_loss(base_embeddings, labels, **needed(term))
        total = self.base(base_embeddings, labels, **needed(self.base))
        values = {f"loss_{self.base_name}": total.detach()}
        for name, term in self.terms.items():
            value = term(embeddings, labels, **needed(term))
            values[f"loss_{name}"] = value.detach()
            total = total + self.weights[name] * value
        self.last_values = values
        return total

    def param_groups(self, base_lr):
        return [group for _, part in self.parts() for group in part.param_groups(base_lr)]

    def optimizer_specs(self, opt, steps_per_epoch):
        specs = {}
        for _, part in self.parts():
            specs.update(part.optimizer_specs(opt, steps_per_epoch))
        return specs

    def setup(self, ctx):
        for _, part in self.parts():
            part.setup(ctx)

    def on_epoch_start(self, ctx):
        for _, part in self.parts():
            part.on_epoch_start(ctx)

    def on_step_end(self, ctx):
        for _, part in self.parts():
            part.on_step_end(ctx)

    def load_state_dict(self, state, strict=True):
        if state and not any(key.startswith(("base.", "terms.")) for key in state):
            state = {f"base.{key}": value for key, value in state.items()}  # a checkpoint from before terms existed
        return super().load_state_dict(state, strict=strict)
