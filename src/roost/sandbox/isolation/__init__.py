"""How a local sandbox is isolated: cgroups (memory, pids, cpu), a dedicated unprivileged
uid, a seccomp filter, a tmpfs workdir, and the kernel that runs inside (a supervisor
and the cell interpreter it keeps user code in) with the host side of its channel."""
