"""An advisory lock on a run folder, held for the life of the process that trains in it.

Two processes training in one folder (a run and a `--resume` of it, or two resumes) would interleave their CSV
rows and checkpoints. The lock is `flock` on `<run folder>/.lock`: the kernel drops it when its process ends, killed
or not, so a lock file left behind by a dead process never blocks. (flock does not work across NFS clients on
every system; the pid in the file is only for the message.)
"""
import fcntl
import os

from utilities.errors import ConfigError

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, LOCK_NAME)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            raise ConfigError(f"{run_dir} is in use by another process (pid {holder}): a run folder trains in one "
                              f"process at a time. Wait for it to end, or stop it, then --resume.") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()

    def release(self):
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
