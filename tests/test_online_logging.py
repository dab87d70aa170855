"""W&B logging (utilities/online_logging.py) without a W&B server: the secret key is stored nowhere, every failed online
start falls back to a resumable offline run quickly, and credentials saved by wandb's own login are found.

Every test runs with a temporary HOME/NETRC/config dir (the real ~/.netrc and wandb settings are never read or
written), no WANDB_* variables from the caller's environment, and a server address where nothing listens."""
import argparse
import logging
import os
import sys
import time

import pytest

from utilities import online_logging
from utilities.online_logging import WandbLogger, has_credentials

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow

# Well-formed (40 word characters) but unknown to any server; distinctive enough to grep for.
KEY = "k3yUsedOnlyInTests" + "0123456789" * 2 + "ab"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connections are refused at once


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """A wandb session that sees only this test's environment; yields the folder to search for leaked secrets."""
    import wandb

    for name in list(os.environ):
        if name.startswith("WANDB"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "wandb"))
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("WANDB_BASE_URL", UNREACHABLE)
    monkeypatch.chdir(tmp_path)  # no ./wandb/settings of the repository applies
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # WandbLogger may blank the key in it
    wandb.teardown()  # the wandb session reads the environment once: start it afresh under this one
    yield tmp_path
    wandb.teardown()


def make_options(key=KEY):
    return argparse.Namespace(project="dml-tests", group="tiny", wandb_key=key, log_online=True, seed=0, lr=1e-3)


def files_containing(root, secret):
    """Every file under root whose bytes contain the secret (wandb's offline .wandb files are binary)."""
    hits = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    if secret.encode() in f.read():
                        hits.append(os.path.relpath(path, root))
    return hits


def offline_runs(run_dir, run_id):
    return sorted(p for p in os.listdir(os.path.join(run_dir, "wandb"))
                  if p.startswith("offline-run-") and p.endswith(run_id))


def test_wandb_key_is_stored_in_no_file(wandb_env, monkeypatch):
    """--wandb_key on the command line: not in the W&B config, nor in any file wandb writes (its metadata records
    sys.argv), nor in a netrc or settings file."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    sys.argv[1:] = ["--log_online", "--wandb_key", KEY, f"--wandb_key={KEY}"]
    run_dir = wandb_env / "run"
    run_dir.mkdir()
    logger = WandbLogger(make_options(), str(run_dir), "tiny_s0")
    assert "wandb_key" not in dict(logger.run.config) and logger.run.config["lr"] == 1e-3
    logger.log({"test/e_recall@1": 0.5}, 0)
    logger.summary({"best/e_recall@1": 0.5})
    logger.finish()
    assert offline_runs(run_dir, WandbLogger.run_id(str(run_dir)))
    assert files_containing(wandb_env, KEY) == []


def test_bad_key_and_unreachable_server_fall_back_offline_fast_and_resume(wandb_env, caplog):
    """No network: a quick check, no long wait, no 'run ID in use' crash; the offline run logs, finishes, and a
    second logger on the same run folder (a resumed training run) continues the same W&B run id."""
    caplog.set_level(logging.INFO, logger=online_logging.__name__)
    run_dir = wandb_env / "run"
    run_dir.mkdir()
    for epoch in range(2):  # the start, then the resume
        start = time.monotonic()
        logger = WandbLogger(make_options(), str(run_dir), "tiny_s0")
        elapsed = time.monotonic() - start
        assert elapsed < 20, f"offline fallback took {elapsed:.1f} s"
        assert logger.run.settings.mode == "offline"
        logger.log({"test/e_recall@1": 0.5 + epoch / 10}, epoch)
        logger.summary({"best/e_recall@1": 0.5 + epoch / 10})
        logger.finish()
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    assert len(offline_runs(run_dir, run_id)) == 2
    assert "logging offline" in caplog.text and KEY not in caplog.text
    assert files_containing(wandb_env, KEY) == []


def test_failed_online_init_is_torn_down_before_the_offline_run(wandb_env, monkeypatch, caplog):
    """The server passed the check but wandb.init then fails (here: times out): the half-started online run is
    ended, the offline run takes the same id, and the key reached no file, not even the online attempt's folder."""
    caplog.set_level(logging.INFO, logger=online_logging.__name__)
    monkeypatch.setattr(online_logging, "check_credentials", lambda auth: None, raising=False)
    monkeypatch.setattr(online_logging, "INIT_TIMEOUT_S", 2.0, raising=False)
    monkeypatch.setenv("WANDB__DISABLE_VIEWER", "true")  # skip wandb's 5 s account look-ups on the dead server
    run_dir = wandb_env / "run"
    run_dir.mkdir()
    for epoch in range(2):
        logger = WandbLogger(make_options(), str(run_dir), "tiny_s0")
        assert logger.run.settings.mode == "offline"
        logger.log({"test/e_recall@1": 0.5}, epoch)
        logger.finish()
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    online_attempts = [p for p in os.listdir(run_dir / "wandb") if p.startswith("run-") and p.endswith(run_id)]
    assert online_attempts and len(offline_runs(run_dir, run_id)) == 2
    assert "online start failed" in caplog.text and KEY not in caplog.text
    assert files_containing(wandb_env, KEY) == []


def test_credentials_saved_by_wandb_login_are_found_for_its_server(wandb_env, monkeypatch):
    """`wandb login --host URL` saves the key in netrc under URL's host and URL as the base_url setting: found,
    with or without WANDB_BASE_URL; a netrc entry for another server is not."""
    import wandb
    from wandb.sdk.lib import wbauth

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB__DISABLE_VIEWER", "true")
    wbauth.write_netrc_auth(host="https://wandb.other-company.example", api_key=KEY)
    wandb.teardown()
    assert not has_credentials("")

    assert wandb.login(key=KEY, host=UNREACHABLE, verify=False)  # what `wandb login --host` does
    netrc_text = (wandb_env / "home" / ".netrc").read_text()
    assert "machine 127.0.0.1:9" in netrc_text and "api.wandb.ai" not in netrc_text
    wandb.teardown()  # forget the session: the key must come from the saved files
    assert has_credentials("")
    monkeypatch.delenv("WANDB_BASE_URL")  # the host now comes from the settings file `wandb login` wrote
    wandb.teardown()
    assert has_credentials("")
