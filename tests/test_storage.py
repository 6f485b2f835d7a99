"""Local storage: outputs are published whole, under names no one else can share or plant."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from bigmart import files
from bigmart.local import storage


def plant_link(target: Path, victim: Path) -> Path:
    """A symlink at the fixed temporary name the writers used to open, pointing at
    ``victim``."""
    link = target.with_name(f".{target.name}.partial")
    link.symlink_to(victim)
    return link


def write_with_open_write(target: Path, content: bytes) -> None:
    with storage.open_write(str(target)) as handle:
        handle.write(content)


def write_with_upload_file(target: Path, content: bytes) -> None:
    source = target.parent.parent / f"source-{os.getpid()}-{threading.get_ident()}"
    source.write_bytes(content)
    storage.upload_file(source, str(target))


def write_with_replacing(target: Path, content: bytes) -> None:
    with storage.replacing(target, "w", encoding="utf-8") as handle:
        handle.write(content.decode())


WRITERS = [write_with_open_write, write_with_upload_file, write_with_replacing]


@pytest.mark.parametrize("write", WRITERS)
def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path, write):
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = folder / "a.csv.out"
    link = plant_link(target, victim)
    write(target, b"new output\n")
    assert victim.read_text() == "precious\n"
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert not target.is_symlink() and target.read_bytes() == b"new output\n"
    assert sorted(p.name for p in folder.iterdir()) == [".a.csv.out.partial", "a.csv.out"]


@pytest.mark.parametrize("write", [write_with_open_write, write_with_replacing])
def test_two_writers_of_one_output_each_publish_a_whole_file(tmp_path, write):
    target = tmp_path / "out" / "shared.csv.out"
    both_open = threading.Barrier(2, timeout=10)
    contents = {name: (name * 40_000 + "\n").encode() for name in ("a", "b")}
    lengths = {"a": 1000, "b": 2}  # different sizes: a mix cannot pass for either
    contents = {n: c[: lengths[n] * 100] for n, c in contents.items()}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            if write is write_with_open_write:
                context = storage.open_write(str(target))
            else:
                context = storage.replacing(target, "w", encoding="utf-8")
            with context as handle:
                content = contents[name]
                half = len(content) // 2
                handle.write(content[:half] if "b" in handle.mode else content[:half].decode())
                handle.flush()
                both_open.wait()  # both files are open and half written
                handle.write(content[half:] if "b" in handle.mode else content[half:].decode())
                handle.flush()
                both_open.wait()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in contents.values()  # the last replace wins, whole
    assert [p.name for p in target.parent.iterdir()] == ["shared.csv.out"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_output(tmp_path):
    target = tmp_path / "out" / "a.csv.out"
    target.parent.mkdir()
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), storage.open_write(str(target)) as handle:
        handle.write(b"half")
        raise RuntimeError("the object failed")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.csv.out"]


def test_a_published_file_has_the_permissions_open_would_give(tmp_path):
    previous = os.umask(0o027)
    try:
        files._new_file_mode.cache_clear()
        target = tmp_path / "a.csv.out"
        write_with_open_write(target, b"x\n")
        plain = tmp_path / "plain"
        plain.write_bytes(b"x\n")
        assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    finally:
        os.umask(previous)
        files._new_file_mode.cache_clear()
