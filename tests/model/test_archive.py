import gzip
import io
import os
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from bigmart.model.archive import opened_model, pack, unpack
from bigmart.model.artifact import MEMBER_LIMITS, ArtifactError, read_model, rewrite_model

MEMBER_NAMES = list(MEMBER_LIMITS)


def test_archive_round_trip_and_unsafe_members_are_refused(tmp_path, trained_model):
    archive = pack(trained_model, tmp_path / "model.tar.gz")
    with opened_model(archive) as folder:
        assert read_model(folder).onnx == read_model(trained_model).onnx
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(trained_model / "metadata.json", arcname="../../escaped.json")
    with pytest.raises(ArtifactError), opened_model(evil):
        pass
    assert not (tmp_path.parent / "escaped.json").exists()


# -- hostile archives (issue 10, items 1 and 2) ----------------------------------------------
#
# Each archive is built here, byte for byte, so the tests need no files from elsewhere; each
# must be refused with one line naming the member, and nothing may appear outside the folder
# it is unpacked into. The same must hold on every supported Python (3.11.2 has no
# ``extractall(filter=...)``; below 3.11.13 the "data" filter is bypassable).


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **extra) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def _archive(path: Path, members: list[tuple], tar_format: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w:gz", format=tar_format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return path


def _files_of(trained_model: Path) -> list[tuple]:
    return [_member(name, data=(trained_model / name).read_bytes()) for name in MEMBER_NAMES]


def _refused(archive: Path, destination: Path) -> str:
    """Unpack ``archive``; return the one-line error, after checking nothing was left."""
    destination.mkdir()
    with pytest.raises(ArtifactError) as caught:
        unpack(archive, destination)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(archive)), message
    assert list(destination.iterdir()) == []  # a refused archive leaves no file behind
    return message


def test_the_cve_2025_4517_symlink_chain_writes_nothing_outside(tmp_path, trained_model):
    # The published bypass of extractall(filter="data") (cpython issue 135034): symlinks
    # whose expansion overflows PATH_MAX, so realpath stops checking, then a hard link to a
    # file outside, written through, and a new file created outside.
    outer = tmp_path / "outer"
    destination = outer / "dest"
    outer.mkdir()
    flag = outer / "flag"
    flag.write_text("original")
    steps = "abcdefghijklmnop"
    path_max = os.pathconf(outer, "PC_PATH_MAX")
    component = "d" * ((path_max - len(str(destination)) - 1) // (len(steps) + 1))
    members, path = [], ""
    for step in steps:
        members.append(_member(os.path.join(path, component), tarfile.DIRTYPE, mode=0o777))
        members.append(_member(os.path.join(path, step), tarfile.SYMTYPE, linkname=component))
        path = os.path.join(path, component)
    link = os.path.join(*steps, "l" * 254)
    members += [
        _member(link, tarfile.SYMTYPE, linkname=os.path.join(*[".."] * len(steps))),
        _member("escape", tarfile.SYMTYPE, linkname=os.path.join(link, "..")),
        _member("flaglink", tarfile.LNKTYPE, linkname=os.path.join("escape", "flag")),
        _member("flaglink", data=b"overwrite"),
        _member("escape/newfile", data=b"new"),
        *_files_of(trained_model),
    ]
    archive = _archive(tmp_path / "model.tar.gz", members)
    destination.mkdir()
    with pytest.raises(ArtifactError) as caught:
        unpack(archive, destination)
    message = str(caught.value)
    assert "member 'ddd" in message and "…' is a directory; " in message, message
    assert flag.read_text() == "original"
    assert sorted(p.name for p in outer.iterdir()) == ["dest", "flag"]
    assert list(destination.iterdir()) == []


def test_a_symlink_to_outside_then_a_file_written_through_it_is_refused(tmp_path, trained_model):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _archive(
        tmp_path / "model.tar.gz",
        [
            _member("model.onnx", tarfile.SYMTYPE, linkname=str(outside / "model.onnx")),
            *_files_of(trained_model),
        ],
    )
    message = _refused(archive, tmp_path / "dest")
    assert message == (
        f"{archive}: member 'model.onnx' is a symlink; a model archive holds only "
        "model.onnx, featurizer.json, metadata.json (and optionally baseline.json) as regular files"
    )
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("model.onnx", tarfile.LNKTYPE, "is a hard link"),
        ("model.onnx", tarfile.CHRTYPE, "is a character device"),
        ("model.onnx", tarfile.BLKTYPE, "is a block device"),
        ("model.onnx", tarfile.FIFOTYPE, "is a FIFO"),
        ("model", tarfile.DIRTYPE, "is a directory"),
        ("../../escaped.json", tarfile.REGTYPE, "is not one of the model's files"),
        ("/tmp/absolute.json", tarfile.REGTYPE, "is not one of the model's files"),
        ("model/model.onnx", tarfile.REGTYPE, "is not one of the model's files (pack"),
        ("evil.py", tarfile.REGTYPE, "is not one of the model's files"),
        ("line\nbreak", tarfile.REGTYPE, "is not one of the model's files"),
    ],
)
def test_anything_but_the_three_regular_files_is_refused_naming_the_member(
    tmp_path, trained_model, name, kind, says
):
    extra = {"linkname": "/etc/passwd"} if kind == tarfile.LNKTYPE else {}
    hostile = _member(name, kind, data=b"{}" if kind == tarfile.REGTYPE else b"", **extra)
    archive = _archive(tmp_path / "model.tar.gz", [*_files_of(trained_model)[:1], hostile])
    message = _refused(archive, tmp_path / "dest")
    assert f"member {name!r} {says}" in message, message
    assert not (tmp_path / "escaped.json").exists() and not Path("/tmp/absolute.json").exists()


def test_a_member_twice_is_refused(tmp_path, trained_model):
    files = _files_of(trained_model)
    archive = _archive(tmp_path / "model.tar.gz", [*files, files[2]])
    assert "member 'metadata.json' appears twice" in _refused(archive, tmp_path / "dest")


def _gzip_repeating(path: Path, head: bytes, unit: bytes, count: int, tail: bytes) -> Path:
    """A valid gzip file of ``head + unit * count + tail``, built in about a second
    whatever its size: deflate output after a full flush does not depend on what came
    before, so ``unit`` is compressed once and its compressed bytes repeated."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [deflate.compress(data) + deflate.flush(zlib.Z_FULL_FLUSH) for data in (head, unit)]
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(tail, crc)
    total = len(head) + len(unit) * count + len(tail)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + parts[0])
        for _ in range(count):
            out.write(parts[1])
        out.write(deflate.compress(tail) + deflate.flush())
        out.write(struct.pack("<II", crc, total & 0xFFFFFFFF))
    return path


def _gzipped_tar_of_zeros(path: Path, name: str, size: int) -> Path:
    """A ``.tar.gz`` holding one member ``name`` of ``size`` (whole MiB) zero bytes."""
    info = tarfile.TarInfo(name)
    info.size = size
    mebibyte = bytes(1 << 20)
    header, end = info.tobuf(tarfile.USTAR_FORMAT), bytes(2 * tarfile.BLOCKSIZE)
    return _gzip_repeating(path, header, mebibyte, size // len(mebibyte), end)


def test_the_zeros_archive_is_what_it_claims(tmp_path):
    archive = _gzipped_tar_of_zeros(tmp_path / "small.tar.gz", "model.onnx", 4 << 20)
    with tarfile.open(archive) as tar:
        (member,) = tar.getmembers()
        assert member.size == 4 << 20 and tar.extractfile(member).read() == bytes(4 << 20)


def test_a_gibibyte_of_zeros_is_refused_before_anything_is_written(tmp_path):
    archive = _gzipped_tar_of_zeros(tmp_path / "model.tar.gz", "model.onnx", 1 << 30)
    assert archive.stat().st_size < 2 << 20  # a 1 MB archive, a 1 GiB member
    message = _refused(archive, tmp_path / "dest")
    assert "member 'model.onnx' is 1.0 GiB, over the 512.0 MiB limit for model.onnx" in message


def test_each_member_is_held_to_its_own_size_limit(tmp_path, trained_model, monkeypatch):
    files = _files_of(trained_model)
    size = files[2][0].size  # metadata.json
    monkeypatch.setitem(MEMBER_LIMITS, "metadata.json", size)
    archive = _archive(tmp_path / "model.tar.gz", files)
    unpack(archive, (tmp_path / "fits").mkdir() or tmp_path / "fits")  # exactly at the limit
    monkeypatch.setitem(MEMBER_LIMITS, "metadata.json", size - 1)
    assert "over the" in _refused(archive, tmp_path / "dest")


def test_a_million_tiny_members_are_not_all_read(tmp_path):
    # Global pax headers are otherwise harmless, so only the header count stops them.
    record = b"20 comment=abcdefgh\n"
    one = tarfile.TarInfo("pax_global_header")
    one.type, one.size = tarfile.XGLTYPE, len(record)
    member = one.tobuf(tarfile.USTAR_FORMAT) + record.ljust(tarfile.BLOCKSIZE, b"\0")
    archive = _gzip_repeating(tmp_path / "model.tar.gz", b"", member * 1024, 1024, b"")
    with gzip.open(archive) as stream:  # (tarfile itself dies of RecursionError on it)
        assert stream.read(1 << 20) == member * 1024
    assert "more than 16 members" in _refused(archive, tmp_path / "dest")


def test_truncated_or_corrupt_archives_are_one_line(tmp_path, trained_model):
    good = pack(trained_model, tmp_path / "good.tar.gz").read_bytes()
    cases = {
        "truncated.tar.gz": good[: len(good) // 2],
        "corrupt.tar.gz": good[:100] + bytes(b ^ 0x55 for b in good[100:400]) + good[400:],
        "junk.tar.gz": b"this is not an archive at all" * 40,
        "empty.tar.gz": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        message = _refused(tmp_path / name, tmp_path / f"dest-{name}")
        assert "model archive" in message, message


def test_sagemaker_style_archives_are_accepted(tmp_path, trained_model):
    # tar -czf model.tar.gz -C model . : a "./" entry and "./name" members (GNU format).
    source = tmp_path / "model"
    rewrite_model(trained_model, source)
    archive = tmp_path / "model.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(source), "."], check=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "." in names and "./model.onnx" in names, names
    with opened_model(archive) as folder:
        assert read_model(folder).onnx == read_model(trained_model).onnx
    # Python's tarfile (the SageMaker SDK packs with it) writes pax headers; GNU long names.
    for tar_format in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        archive = _archive(tmp_path / f"{tar_format}.tar.gz", _files_of(trained_model), tar_format)
        with opened_model(archive) as folder:
            assert sorted(p.name for p in folder.iterdir()) == sorted(MEMBER_NAMES)
