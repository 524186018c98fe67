"""The ``docker`` backend: one locked-down container per sandbox (docker SDK, lazy).

The container runs a signal-waiting PID 1; the sandbox kernel (Python, shell, files)
runs in it through ``exec``. No network unless asked, no capabilities, default seccomp profile,
read-only root with a size-limited tmpfs workdir, memory/pids/cpu limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import IO, Any

from roost.core import SandboxError, SandboxUnavailable
from roost.sandbox.backends.container import ContainerSandbox, ExecOutput, StreamChannel
from roost.sandbox.backends.docker_spec import (
    WORKDIR,
    DockerConfig,
    build_create_kwargs,
    container_name,
)
from roost.sandbox.base import SandboxSpec

__all__ = ["DockerConfig", "DockerSandbox", "build_create_kwargs", "docker_available"]


def _client(config: DockerConfig) -> Any:
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a declared extra
        raise SandboxUnavailable(
            "the docker backend needs the docker SDK", hint="pip install 'roost[docker]'"
        ) from exc
    try:
        client = (
            docker.DockerClient(base_url=config.base_url) if config.base_url else docker.from_env()
        )
        client.ping()
    except Exception as exc:
        raise SandboxUnavailable(
            f"no Docker engine reachable: {exc}",
            hint="start dockerd or set DOCKER_HOST; the default backend (bwrap) needs no engine",
        ) from exc
    return client


def docker_available(config: DockerConfig | None = None) -> str | None:
    """``None`` when an engine answers, else the reason it does not."""
    try:
        _client(config or DockerConfig.from_settings()).close()
    except SandboxUnavailable as exc:
        return exc.message
    return None


def _is_podman(client: Any) -> bool:
    """Podman's Docker-compatible API names itself in the version's components."""
    components = client.version().get("Components") or []
    return any(str(c.get("Name", "")).startswith("Podman") for c in components)


def _podman_tmpfs(tmpfs: dict[str, str]) -> dict[str, str]:
    """Podman refuses the ``uid=`` tmpfs option; its ``U`` chowns the mount to the
    container's user instead (same result: the workdir belongs to the sandbox user)."""
    return {
        path: ",".join("U" if opt.startswith("uid=") else opt for opt in options.split(","))
        for path, options in tmpfs.items()
    }


def _raw_socket(sock: Any) -> socket.socket:
    """The docker SDK returns a SocketIO (unix socket) or a socket; get the socket."""
    raw = getattr(sock, "_sock", sock)
    if not isinstance(raw, socket.socket):
        raise SandboxError(f"unexpected exec socket type {type(raw).__name__}")
    return raw


class DockerSandbox(ContainerSandbox):
    """A sandbox in a Docker container."""

    backend = "docker"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        *,
        config: DockerConfig | None = None,
        sandbox_id: str | None = None,
    ) -> None:
        super().__init__(spec, sandbox_id=sandbox_id)
        self.config = config or DockerConfig.from_settings()
        self.python = self.config.python
        self.container_detail: dict[str, Any] = {}
        self._docker: Any = None
        self._container: Any = None
        self._keeper = "1"

    async def _create(self) -> None:
        self._docker = await asyncio.to_thread(_client, self.config)
        kwargs = build_create_kwargs(self.id, self.spec, self.config)
        if await asyncio.to_thread(_is_podman, self._docker):
            kwargs["tmpfs"] = _podman_tmpfs(kwargs["tmpfs"])

        def create() -> Any:
            import docker.errors

            try:
                container = self._docker.containers.create(**kwargs)
                container.start()
                container.reload()
            except docker.errors.ImageNotFound as exc:
                raise SandboxUnavailable(
                    f"sandbox image {kwargs['image']!r} is not available: {exc.explanation}",
                    hint=f"docker pull {kwargs['image']} (or set ROOST_SANDBOX_DOCKER_IMAGE)",
                ) from exc
            except docker.errors.APIError as exc:
                raise SandboxUnavailable(
                    f"the Docker engine refused the sandbox container: {exc.explanation}",
                    hint="check the engine supports the requested runtime and limits",
                ) from exc
            return container

        self._container = await asyncio.to_thread(create)
        if self._container.status != "running":
            raise SandboxError(f"container {self._container.name} is {self._container.status}")
        self.container_detail = {
            "container": self._container.name,
            "image": kwargs["image"],
            "docker_host": self.config.base_url,
        }
        # With the engine's init as PID 1 the keeper is its first child: remember it, so
        # killing the sandbox's processes spares it (see _kill_all).
        children = await self._exec(["cat", "/proc/1/task/1/children"], stdin=None, timeout=15)
        pids = children.stdout.split()
        self._keeper = pids[0].decode() if pids and pids[0].isdigit() else "1"

    async def _destroy(self) -> None:
        if self._docker is None:
            return
        docker_client = self._docker

        def remove() -> None:
            import docker.errors

            try:
                docker_client.containers.get(container_name(self.id)).remove(force=True)
            except docker.errors.NotFound:
                pass
            finally:
                docker_client.close()

        self._docker = None
        await asyncio.to_thread(remove)

    def _exec_start(self, argv: list[str], stdin: bool) -> tuple[str, socket.socket]:
        api = self._docker.api
        created = api.exec_create(
            self._container.id,
            argv,
            stdin=stdin,
            stdout=True,
            stderr=True,
            tty=False,
            workdir=WORKDIR,
            user=self.config.user,
        )
        sock = api.exec_start(created["Id"], socket=True, tty=False)
        return created["Id"], _raw_socket(sock)

    async def _exec(self, argv: list[str], *, stdin: bytes | None, timeout: float) -> ExecOutput:
        from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

        def run() -> ExecOutput:
            exec_id, raw = self._exec_start(argv, stdin is not None)
            try:
                raw.settimeout(timeout)
                if stdin is not None:
                    raw.sendall(stdin)
                    raw.shutdown(socket.SHUT_WR)
                # frames_iter yields (stream id, bytes); demux_adaptor makes them the
                # (stdout, stderr) pairs consume_socket_output expects.
                frames = (demux_adaptor(*frame) for frame in frames_iter(raw, tty=False))
                stdout, stderr = consume_socket_output(frames, demux=True)
            finally:
                raw.close()
            code = self._docker.api.exec_inspect(exec_id).get("ExitCode")
            return ExecOutput(code, stdout or b"", stderr or b"")

        return await asyncio.to_thread(run)

    async def _open_stream(self, argv: list[str], stderr: IO[bytes]) -> StreamChannel:
        from docker.utils.socket import frames_iter

        _, raw = await asyncio.to_thread(self._exec_start, argv, True)

        async def write(data: bytes) -> None:
            await asyncio.to_thread(raw.sendall, data)

        async def close() -> None:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                raw.close()

        channel = StreamChannel(write, close)

        def pump() -> None:
            try:
                for stream_id, chunk in frames_iter(raw, tty=False):
                    if not chunk:
                        continue
                    if stream_id == 1:
                        channel.feed(chunk)
                    else:
                        stderr.write(chunk)
            except (OSError, ValueError):
                pass
            finally:
                channel.finish()

        threading.Thread(target=pump, name=f"docker-kernel-{self.id}", daemon=True).start()
        return channel

    async def _kill_all(self) -> None:
        # PID 1 is the engine's init (``init: True``), so the keeper is an ordinary process
        # of the sandbox user and ``kill -9 -1`` would end it, and the container with it.
        # Kill every other process instead (no procps in slim images: walk /proc).
        script = (
            'for p in /proc/[0-9]*; do n="${p#/proc/}"; '
            f'[ "$n" = 1 ] || [ "$n" = {self._keeper} ] || [ "$n" = "$$" ] '
            '|| kill -9 "$n" 2>/dev/null; done; true'
        )
        with contextlib.suppress(Exception):
            await self._exec(["sh", "-c", script], stdin=None, timeout=15)


async def reap(detail: dict[str, Any]) -> None:
    """Remove the container of a sandbox whose manager died."""
    name = detail.get("container")
    if not name:
        return
    client = await asyncio.to_thread(
        _client, DockerConfig.from_settings(base_url=detail.get("docker_host"))
    )

    def remove() -> None:
        import docker.errors

        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        finally:
            client.close()

    await asyncio.to_thread(remove)
