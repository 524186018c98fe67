"""Executed (stdlib only, ``python -I -S``) by the wrapper script that Playwright starts
as the "browser executable": enter the sandbox's cgroups, set its rlimits, drop to its
unprivileged uid, then exec bwrap around chromium with Playwright's arguments appended and only the
sandbox's environment (never the supervisor's).

The config file is written by the supervisor in a root-only directory, never in the
sandbox workdir, so code in the sandbox cannot change what the next launch runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        config = json.load(fh)
    argv: list[str] = [*config["argv"], *sys.argv[2:]]
    # bwrap reads the seccomp program and /etc/passwd from inherited fds: the argv holds
    # placeholders such as ``{seccomp_fd}`` for files only root can open.
    for placeholder, path in config["fd_files"].items():
        fd = os.open(path, os.O_RDONLY)
        os.set_inheritable(fd, True)
        argv = [a.replace(placeholder, str(fd)) for a in argv]
    for path in config["procs_files"]:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    for res, value in config["rlimits"].items():
        resource.setrlimit(int(res), (value, value))
    if config["drop"]:
        os.setgroups([])
        os.setresgid(config["gid"], config["gid"], config["gid"])
        os.setresuid(config["uid"], config["uid"], config["uid"])
        if os.geteuid() == 0 or os.getuid() == 0:
            os._exit(126)
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main()
