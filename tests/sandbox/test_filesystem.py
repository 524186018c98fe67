"""The filesystem API: relative paths only, no escapes, size limits and quota."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.sandbox import (
    BwrapSandbox,
    SandboxFileNotFound,
    SandboxFileTooLarge,
    SandboxPathInvalid,
    SandboxQuotaExceeded,
)

from .conftest import SandboxFactory


async def test_write_read_list_delete_round_trip(sandbox: BwrapSandbox) -> None:
    info = await sandbox.write_file("data/notes.txt", "hello")
    assert info.path == "data/notes.txt" and info.size == 5 and not info.is_dir
    await sandbox.write_file("data/raw.bin", bytes(range(256)))
    assert await sandbox.read_file("data/notes.txt") == b"hello"
    assert await sandbox.read_file("data/raw.bin") == bytes(range(256))
    listing = await sandbox.list_files("data")
    assert [(f.path, f.size) for f in listing] == [("data/notes.txt", 5), ("data/raw.bin", 256)]
    top = await sandbox.list_files()
    assert [(f.path, f.is_dir) for f in top] == [("data", True)]
    await sandbox.delete_file("data/notes.txt")
    with pytest.raises(SandboxFileNotFound):
        await sandbox.read_file("data/notes.txt")
    await sandbox.delete_file("data")
    assert await sandbox.list_files() == []


async def test_files_are_shared_with_python_and_shell(sandbox: BwrapSandbox) -> None:
    await sandbox.write_file("in.txt", "from api")
    res = await sandbox.run_python("open('in.txt').read()")
    assert res.result == "'from api'"
    await sandbox.run_shell("echo from shell > out.txt")
    assert await sandbox.read_file("out.txt") == b"from shell\n"


async def test_upload_and_download(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_text("a,b\n1,2\n")
    await sandbox.upload_file(src, "in/src.csv")
    assert (await sandbox.run_python("open('in/src.csv').read().count(',')")).result == "2"
    dest = tmp_path / "back.csv"
    await sandbox.download_file("in/src.csv", dest)
    assert dest.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "", "a\0b"])
async def test_paths_outside_the_workdir_are_rejected(sandbox: BwrapSandbox, path: str) -> None:
    with pytest.raises(SandboxPathInvalid) as err:
        await sandbox.read_file(path)
    assert err.value.code == "sandbox_path_invalid"


async def test_symlinks_pointing_out_are_rejected(sandbox: BwrapSandbox) -> None:
    await sandbox.run_shell("ln -s /etc/passwd leak; ln -s /usr evil_dir; ln -s inside.txt ok")
    await sandbox.write_file("inside.txt", "fine")
    with pytest.raises(SandboxPathInvalid):
        await sandbox.read_file("leak")
    with pytest.raises(SandboxPathInvalid):
        await sandbox.write_file("evil_dir/x", "nope")
    with pytest.raises(SandboxPathInvalid):
        await sandbox.list_files("evil_dir")
    assert await sandbox.read_file("ok") == b"fine"


async def test_a_symlink_pointing_out_can_be_deleted_itself(sandbox: BwrapSandbox) -> None:
    await sandbox.run_shell(
        "echo keep > /tmp/target; mkdir sub; ln -s /tmp/target sub/link; ln -s /usr dirlink"
    )
    await sandbox.delete_file("sub/link")
    await sandbox.delete_file("dirlink")
    assert [f.path for f in await sandbox.list_files()] == ["sub"]
    assert await sandbox.list_files("sub") == []
    # Only the links went: what they pointed to is untouched.
    assert (await sandbox.run_shell("cat /tmp/target; ls /usr | wc -l")).stdout.startswith("keep")
    with pytest.raises(SandboxFileNotFound):
        await sandbox.delete_file("sub/link")


async def test_max_file_size_is_enforced_everywhere(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(max_file_mb=1)
    with pytest.raises(SandboxFileTooLarge):
        await sandbox.write_file("big.bin", b"x" * (2 << 20))
    res = await sandbox.run_shell("head -c 3000000 /dev/zero > big.bin; echo $?; ls -l big.bin")
    assert "1048576" in res.stdout  # RLIMIT_FSIZE stopped the write at 1 MiB
    assert res.exit_code == 0
    with pytest.raises(SandboxFileTooLarge):
        await sandbox.write_file("two.bin", b"y" * (1 << 20) + b"z")


async def test_workdir_quota_is_enforced(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(disk_mb=8, max_file_mb=6)
    await sandbox.write_file("a.bin", b"a" * (5 << 20))
    with pytest.raises(SandboxQuotaExceeded):
        await sandbox.write_file("b.bin", b"b" * (5 << 20))
    names = [f.path for f in await sandbox.list_files()]
    assert names == ["a.bin"]
    res = await sandbox.run_shell("dd if=/dev/zero of=c.bin bs=1M count=6 2>&1")
    assert "No space left" in res.stdout
