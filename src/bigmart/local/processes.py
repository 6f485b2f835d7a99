"""Processes as the kernel knows them: a PID with its start time, so a record can name the
process that owns it (a job's command, an endpoint's server) and tell later whether that
very process still runs, not another one that reused its PID."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as the kernel knows it: its PID and its start time (clock ticks after
    boot, ``/proc/<pid>/stat`` field 22). A PID is reused; the pair is not."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live (not zombie) process ``pid``, or None."""
        stat = _stat_fields(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return None
        return cls(pid, int(stat[19]))

    def is_alive(self) -> bool:
        """True while this very process runs (not another one that reused its PID)."""
        return ProcessIdentity.of(self.pid) == self

    def group_members(self) -> list[int]:
        """PIDs left in the process group this process leads, started no earlier than it.

        A group's id is its leader's PID, and Linux does not hand that PID out again while
        the group has members, so these are the leader's own children (a server's workers).
        """
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            stat = _stat_fields(int(entry.name))
            if (
                stat is not None
                and stat[0] not in ("Z", "X")
                and int(stat[2]) == self.pid
                and int(stat[19]) >= self.start_time
            ):
                members.append(int(entry.name))
        return members


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; the name in field 2 may hold spaces
    and parentheses, so the fields start after its last ')'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def boot_id() -> str | None:
    """This boot of the machine (a start time counts from boot, so it means nothing in
    another one), or None where the kernel does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def pid_namespace() -> str | None:
    """The PID namespace this process sees (a container has its own PIDs), or None."""
    try:
        return str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return None
