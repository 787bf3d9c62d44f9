"""The sandboxed-kernel stage: one notebook run in an untrusted, bounded kernel, and plain data out of it.

execution (one notebook in a kernel, with nbclient) in the sandbox: sandbox (the kernel's command line),
confine (limits-only fallback), scratch (bounded tmpfs folders), uid_lease (one uid per kernel),
out_of_space; warm_kernels and fork_server (kernels forked from a per-slot template that ran the setup
cells); kernel_agent and exchange (plain data out of the kernel).
"""
