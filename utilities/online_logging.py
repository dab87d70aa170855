"""Weights & Biases logging, imported only when --log_online is given.

Without credentials (no --wandb_key, WANDB_API_KEY or ~/.netrc entry) the run is logged offline, with one notice, so
it can be uploaded later with `wandb sync <run folder>/wandb/offline-run-*`; a failed online start falls back to the
same offline mode instead of killing the training run.
"""
import logging
import netrc
import os

from utilities.errors import ConfigError

LOG = logging.getLogger(__name__)


def has_credentials(key):
    if key or os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


class WandbLogger:
    def __init__(self, opt, run_dir, run_name):
        try:
            import wandb
        except ImportError as error:
            raise ConfigError("--log_online needs the wandb package: pip install wandb") from error
        self.wandb = wandb
        settings = dict(project=opt.project, group=opt.group, name=run_name, dir=run_dir, config=vars(opt),
                        resume="allow", id=self.run_id(run_dir))
        mode = os.environ.get("WANDB_MODE", "online" if has_credentials(opt.wandb_key) else "offline")
        if mode == "online":
            if opt.wandb_key:
                wandb.login(key=opt.wandb_key, verify=False)
            try:
                self.run = wandb.init(mode="online", settings=wandb.Settings(init_timeout=60), **settings)
            except Exception as error:  # noqa: BLE001 - any network/auth failure must not end the run
                LOG.warning("W&B online start failed (%s); logging offline instead.", error)
                mode = "offline"
        if mode != "online":
            LOG.info("W&B: no credentials or network; logging offline to %s (upload later with `wandb sync`).",
                     os.path.join(run_dir, "wandb"))
            self.run = wandb.init(mode=mode, **settings)

    @staticmethod
    def run_id(run_dir):
        """A stable id per run folder, so a resumed run continues the same W&B run."""
        path = os.path.join(run_dir, "wandb_id.txt")
        if not os.path.exists(path):
            import uuid
            with open(path, "w") as f:
                f.write(uuid.uuid4().hex[:12])
        with open(path) as f:
            return f.read().strip()

    def log(self, values, epoch):
        self.run.log({**values, "epoch": epoch})

    def summary(self, values):
        for key, value in values.items():
            self.run.summary[key] = value

    def finish(self):
        self.run.finish()
