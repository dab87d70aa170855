"""Weights & Biases logging, imported only when --log_online is given.

Credentials are looked up the way wandb itself looks them up, for the server wandb is configured for (WANDB_BASE_URL
or the host `wandb login --host` saved): --wandb_key, WANDB_API_KEY, WANDB_IDENTITY_TOKEN_FILE, the netrc entry
`wandb login` wrote, or the api_key setting. Without any, the run is logged offline into the run folder, with one
notice, to be uploaded later with `wandb sync <run folder>/wandb/offline-run-*`.

With credentials, the server is first asked whether it is reachable and accepts them, within CHECK_TIMEOUT_S; only then
is the online run started, with a bounded wandb.init. Whatever goes wrong on the way (malformed or rejected key, no
network, unreachable or slow host, an exception from wandb.init) ends in the same offline mode, with the same run id,
after any half-started online run has been torn down, instead of ending the training run.

A key given as --wandb_key is used in memory only: it is handed to wandb.init as a setting (which, unlike
`wandb.login(key=...)`, never writes it to ~/.netrc), it is left out of the W&B config (`saved_options`), and it is
blanked in sys.argv, which wandb records as the run's command line in every run's metadata.
"""
import logging
import os
import sys
import threading
import uuid

from utilities.errors import ConfigError
from utilities.options import saved_options

LOG = logging.getLogger(__name__)

# The credential/reachability check: two requests of CHECK_ATTEMPT_S at most, 1 s apart, so wandb's service gives up
# on its own; CHECK_TIMEOUT_S is the most this process waits for its answer. Without network nothing waits longer.
CHECK_TIMEOUT_S = 10.0
CHECK_ATTEMPT_S = 4.0
# wandb.init's own limit for the online start, once the server has answered the check (wandb's default is 90 s).
INIT_TIMEOUT_S = 30.0
# The most to wait for wandb's service process to shut down (the run's data is saved by then).
TEARDOWN_TIMEOUT_S = 30.0

REDACTED = "<redacted>"


def redact(text, secret):
    """`text` as a string with every occurrence of `secret` blanked (for messages that may quote it)."""
    text = str(text)
    return text.replace(secret, REDACTED) if secret else text


def hide_from_argv(secret):
    """Blank the secret in sys.argv: wandb stores sys.argv[1:] as the run's command line (wandb-metadata.json, the
    offline .wandb file that `wandb sync` uploads). Every form argparse accepts is covered (`--wandb_key KEY`,
    `--wandb_key=KEY`, abbreviations), since each contains the key itself."""
    if secret:
        sys.argv[:] = [redact(arg, secret) for arg in sys.argv]


def wandb_settings():
    """The settings wandb uses in this process: WANDB_* variables, the `wandb login`/`wandb offline` settings files."""
    from wandb.sdk import wandb_setup
    return wandb_setup.singleton().settings


def find_credentials(key=""):
    """The credentials wandb.init would use for the configured server, or None when there are none.

    `key` (--wandb_key) comes first; else wandb's own look-up for the server's URL: WANDB_API_KEY,
    WANDB_IDENTITY_TOKEN_FILE, the netrc entry for that server's host (the one `wandb login` writes), the api_key
    setting. Returns a wandb `Auth` object. Nothing is stored. Raises wandb's AuthenticationError for a malformed
    key.
    """
    from wandb.sdk.lib import wbauth
    settings = wandb_settings()
    host = wbauth.HostUrl(settings.base_url, app_url=settings.app_url)
    if key:
        return wbauth.AuthApiKey(host=host, api_key=key)
    return wbauth.authenticate_session(host=host, source="--log_online", prompt=False, update_session=False)


def has_credentials(key=""):
    """Whether wandb has credentials (well-formed ones) for the server it is configured for."""
    try:
        return find_credentials(key) is not None
    except Exception as error:  # noqa: BLE001 - a malformed key or unreadable settings: not usable credentials
        LOG.warning("W&B credentials not usable: %s", redact(error, key))
        return False


def check_credentials(auth):
    """Ask the server, through wandb, whether it is reachable and accepts `auth`, within CHECK_TIMEOUT_S.

    Returns None when it does, else why not (no network, unreachable host, rejected key, timeout).
    """
    from wandb.apis.public.service_api import ServiceApi
    from wandb.sdk.lib.wbauth import set_auth_settings
    from wandb.sdk.lib.wbauth.validation import check_service_api_auth_validity
    try:
        settings = wandb_settings().model_copy()
        set_auth_settings(settings, auth)
        # wandb's default retries a refused request for minutes; these bound it inside wandb's service too.
        settings.x_graphql_retry_max = 1
        settings.x_graphql_retry_wait_max_seconds = 1.0
        settings.x_graphql_timeout_seconds = CHECK_ATTEMPT_S
        return check_service_api_auth_validity(ServiceApi(settings=settings, timeout=CHECK_TIMEOUT_S))
    except Exception as error:  # noqa: BLE001 - any failure of the check means: do not go online
        return f"credential check failed: {error}"


def requested_mode():
    """'online' unless wandb is told otherwise (WANDB_MODE, `wandb offline`): then 'offline' or 'disabled'."""
    mode = wandb_settings().mode
    return {"dryrun": "offline", "run": "online", "shared": "online"}.get(mode, mode)


def call_with_time_limit(function, seconds, what):
    """Run `function` (a wandb clean-up), waiting `seconds` at most: a hung clean-up must not hang the training."""
    def target():
        try:
            function()
        except (Exception, SystemExit) as error:  # noqa: BLE001 - best effort
            LOG.debug("W&B %s: %s", what, error)

    thread = threading.Thread(target=target, name=f"wandb {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        LOG.warning("W&B %s did not end within %.0f s; continuing without waiting for it.", what, seconds)


class WandbLogger:
    def __init__(self, opt, run_dir, run_name):
        try:
            import wandb
        except ImportError as error:
            raise ConfigError("--log_online needs the wandb package: pip install wandb") from error
        self.wandb = wandb
        key = getattr(opt, "wandb_key", "") or ""
        hide_from_argv(key)
        init_args = dict(project=opt.project, group=opt.group, name=run_name, dir=run_dir,
                         config=saved_options(opt), resume="allow", id=self.run_id(run_dir))
        self.run = None
        mode = requested_mode()
        if mode == "online":
            self.run = self.start_online(key, init_args)
            mode = "offline"
        if self.run is None:
            if mode == "disabled":
                LOG.info("W&B: disabled by wandb's settings (WANDB_MODE); nothing is logged to W&B.")
            else:
                LOG.info("W&B: logging offline to %s (upload later with `wandb sync %s`).",
                         os.path.join(run_dir, "wandb"), os.path.join(run_dir, "wandb", "offline-run-*"))
            self.run = wandb.init(mode=mode, **init_args)

    def start_online(self, key, init_args):
        """The online run, or None (after a notice, and with any half-started run torn down) to go offline."""
        try:
            auth = find_credentials(key)
        except Exception as error:  # noqa: BLE001 - malformed key or settings
            LOG.warning("W&B credentials not usable (%s); logging offline instead.", redact(error, key))
            return None
        if auth is None:
            LOG.info("W&B: no credentials (--wandb_key, WANDB_API_KEY or `wandb login`); logging offline instead.")
            return None
        problem = check_credentials(auth)
        if problem:  # nothing was started: the offline run follows directly
            LOG.warning("W&B: no usable connection to the server (%s); logging offline instead.",
                        redact(problem, key))
            return None
        settings = self.wandb.Settings(api_key=key or None, init_timeout=INIT_TIMEOUT_S)
        try:
            return self.wandb.init(mode="online", settings=settings, **init_args)
        except Exception as error:  # noqa: BLE001 - any network/auth failure must not end the training run
            LOG.warning("W&B online start failed (%s); logging offline instead.", redact(error, key))
            self.discard_online_attempt()
            return None

    def discard_online_attempt(self):
        """End what a failed wandb.init left behind (its run, wandb's service process with the run id registered,
        the session credentials), so that the offline run can take the same run id."""
        def discard():
            try:
                self.wandb.finish(exit_code=1)
            finally:
                self.wandb.teardown()
        call_with_time_limit(discard, TEARDOWN_TIMEOUT_S, "clean-up after the failed online start")

    @staticmethod
    def run_id(run_dir):
        """A stable id per run folder, so a resumed run continues the same W&B run."""
        path = os.path.join(run_dir, "wandb_id.txt")
        if not os.path.exists(path):
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
        """End the run, then wandb's service process: a later WandbLogger in this process starts afresh, with the
        environment as it is then."""
        self.run.finish()
        call_with_time_limit(self.wandb.teardown, TEARDOWN_TIMEOUT_S, "teardown")
