"""What components (the objective's loss and terms, the sampler) see in their hooks, and when the hooks run.

Lifecycle, identical for a fresh start and for `--resume`:
  setup(ctx)           once per process, before any saved state is loaded: state a component builds here (class-name
                       embeddings, cluster assignments, ...) and keeps in its state dict is then restored on resume;
  on_epoch_start(ctx)  at the start of every training epoch, after the sampler has its epoch (ctx.epoch) and every
                       parameter group has been unfrozen (but for --warmup): a hook may freeze groups for this
                       epoch (ctx.optimizers.freeze);
  on_step_end(ctx)     after every optimiser step (ctx.step counts steps over the whole run).
A sampler may instead (or also) implement `needs_embeddings(epoch)`: the loop then hands it the training set's
embeddings before the epoch (`set_embeddings`).
"""
import dataclasses


class ReadOnlyOptions:
    """The run's options, readable by attribute, never writable: components take what they need at construction,
    and derived facts are passed to them, not written back into the options."""

    def __init__(self, opt):
        object.__setattr__(self, "_values", dict(vars(opt)))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no option '{name}'") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"the options are read-only (tried to set '{name}'): keep derived values in the "
                             f"component itself.")

    def __contains__(self, name):
        return name in self._values


@dataclasses.dataclass
class HookContext:
    options: ReadOnlyOptions
    model: object            # the student model (torch.nn.Module)
    sampler: object          # the batch sampler; may receive assignments (set_assignments)
    train_split: object      # datasets.base.Split of the training images
    device: object
    run_dir: str
    logger: object           # logging.Logger for the component's messages
    embed: object            # callable(split, keys=None) -> ({key: array}, labels) with the evaluation transform;
                             # keys: model outputs ("embeds", "features", "logits"), default --evaltypes
    optimizers: object = None  # utilities.optimizers.NamedOptimizers: `freeze(group names)` for the current epoch
    teacher: object = None   # the frozen teacher model, or None
    resuming: bool = False   # setup() on --resume: what setup builds is then replaced by the saved state, so
                             # expensive initialisations (class means, clustering) may be skipped
    epoch: int = 0
    step: int = 0
