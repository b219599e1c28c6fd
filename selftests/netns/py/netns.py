"""Shared by the netns suites' python tools (stdlib only): entering a
network namespace (os.setns only exists from Python 3.12; Debian 12 has
3.11) and an address's family."""
import ctypes, os, socket

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    """Moves this thread into the network namespace /run/netns/NS."""
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)


def family(addr):
    """AF_INET6 for an address with a ':', else AF_INET."""
    return socket.AF_INET6 if ":" in addr else socket.AF_INET
