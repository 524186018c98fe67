"""A single-server install (``roost deploy systemd``): systemd units for the API server
and the sandbox manager, an nginx site in front, a config file and an install script.

The API server runs unprivileged with systemd's sandboxing (read-only system, private
/tmp and devices, no new privileges, no capabilities). The sandbox manager needs root to
create namespaces and cgroups and to drop each sandbox to its own uid, so it is
hardened differently and listens on loopback only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from roost.core.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


@dataclass
class SingleServer:
    """Where things go on the server. ``prefix`` holds the virtualenv (``bin/roost``)."""

    server_name: str = "roost.example.internal"
    app: str | None = None
    workers: int = 2
    prefix: Path = Path("/opt/roost")
    config_dir: Path = Path("/etc/roost")
    state_dir: str = "roost"
    """Under /var/lib (systemd ``StateDirectory=``)."""
    user: str = "roost"
    port: int = 8000
    sandbox_port: int = 8790
    sandbox: bool = True
    tls_certificate: str = "/etc/roost/tls/fullchain.pem"
    tls_key: str = "/etc/roost/tls/privkey.pem"
    max_body_mb: int = 20

    def __post_init__(self) -> None:
        if not _NAME.match(self.server_name):
            raise ConfigError(
                f"bad server name {self.server_name!r}", hint="a DNS name, e.g. roost.corp.internal"
            )
        if self.workers < 1:
            raise ConfigError("workers must be >= 1")

    @property
    def roost(self) -> str:
        return str(self.prefix / "bin" / "roost")


_HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0077
"""


def server_unit(s: SingleServer) -> str:
    app = f" {s.app}" if s.app else ""
    after = "network-online.target postgresql.service redis-server.service"
    if s.sandbox:
        after += " roost-sandbox.service"
    return f"""\
[Unit]
Description=Roost agent platform (API server)
Documentation=file://{s.prefix}/share/doc/roost/deployment.md
After={after}
Wants=network-online.target

[Service]
Type=exec
User={s.user}
Group={s.user}
EnvironmentFile={s.config_dir}/roost.env
StateDirectory={s.state_dir}
StateDirectoryMode=0700
WorkingDirectory=/var/lib/{s.state_dir}
ExecStartPre={s.roost} db upgrade --wait 60
ExecStart={s.roost} serve{app} --host 127.0.0.1 --port {s.port} --workers {s.workers}
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
LimitNOFILE=65536
{_HARDENING}
[Install]
WantedBy=multi-user.target
"""


def sandbox_unit(s: SingleServer) -> str:
    return f"""\
[Unit]
Description=Roost sandbox manager (bubblewrap sandboxes for agent code)
After=network.target

[Service]
Type=exec
# root: it creates user namespaces and cgroups, and drops each sandbox to its own uid
User=root
EnvironmentFile={s.config_dir}/roost.env
StateDirectory=roost-sandbox
StateDirectoryMode=0700
RuntimeDirectory=roost-sandbox
Environment=ROOST_SANDBOX_RUNTIME_DIR=/run/roost-sandbox
ExecStart={s.roost} sandbox serve --host 127.0.0.1 --port {s.sandbox_port} --backend bwrap
Restart=on-failure
RestartSec=2
Delegate=yes
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
"""


def env_file(s: SingleServer) -> str:
    sandbox = (
        f"ROOST_SANDBOX_URL=http://127.0.0.1:{s.sandbox_port}\n"
        "ROOST_SANDBOX_TOKEN=__SANDBOX_TOKEN__\n"
        if s.sandbox
        else "ROOST_SANDBOX=0\n"
    )
    return f"""\
# Roost configuration (read by roost.service and roost-sandbox.service). Mode 0600.
ROOST_HOME=/var/lib/{s.state_dir}
ROOST_LOG_FORMAT=json
# PostgreSQL and Redis (needed for --workers > 1); SQLite under ROOST_HOME otherwise.
ROOST_DATABASE_URL=postgresql+asyncpg://roost@127.0.0.1:5432/roost
ROOST_REDIS_URL=redis://127.0.0.1:6379/0
# The model: empty = the local model under ROOST_HOME/models; or an OpenAI-compatible URL.
#ROOST_MODEL=http://127.0.0.1:8001/v1#qwen2.5
{sandbox}"""


def nginx_site(s: SingleServer) -> str:
    """TLS in front of the API; streamed runs (SSE) pass unbuffered and may last an hour."""
    return f"""\
# Roost behind nginx: TLS, SSE without buffering, long streams.
upstream roost_api {{
    server 127.0.0.1:{s.port};
    keepalive 32;
}}

server {{
    listen 80;
    listen [::]:80;
    server_name {s.server_name};
    return 301 https://$host$request_uri;
}}

server {{
    # "listen ... http2" works from nginx 1.9.5 (Debian 12 ships 1.22; 1.25 deprecates it)
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {s.server_name};

    ssl_certificate     {s.tls_certificate};
    ssl_certificate_key {s.tls_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:roost_tls:10m;

    client_max_body_size {s.max_body_mb}m;
    add_header Strict-Transport-Security "max-age=31536000" always;

    location / {{
        proxy_pass http://roost_api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Server-sent events: every event reaches the client at once.
        proxy_buffering off;
        proxy_cache off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    }}
}}
"""


def install_script(s: SingleServer) -> str:
    units = "roost.service" + (" roost-sandbox.service" if s.sandbox else "")
    return f"""\
#!/bin/sh
# Installs Roost as systemd services behind nginx. Run as root from this directory.
# WHEELS=DIR installs from a wheelhouse (air-gapped bundle) instead of the package index.
set -eu
cd "$(dirname "$0")"
PYTHON="${{PYTHON:-python3}}"
id {s.user} >/dev/null 2>&1 || useradd --system --home-dir /var/lib/{s.state_dir} --shell /usr/sbin/nologin {s.user}
if [ ! -x {s.roost} ]; then
  "$PYTHON" -m venv {s.prefix}
  if [ -n "${{WHEELS:-}}" ]; then
    {s.prefix}/bin/pip install --no-index --find-links "$WHEELS" -r "$WHEELS/requirements.txt"
  else
    {s.prefix}/bin/pip install 'roost[postgres,redis,fast,sandbox,local]'
  fi
fi
install -d -m 0755 {s.config_dir}
if [ ! -f {s.config_dir}/roost.env ]; then
  token="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \\n')"
  sed "s/__SANDBOX_TOKEN__/$token/" roost.env > {s.config_dir}/roost.env
  chmod 0600 {s.config_dir}/roost.env
fi
install -m 0644 roost.service /etc/systemd/system/roost.service
{"install -m 0644 roost-sandbox.service /etc/systemd/system/roost-sandbox.service" if s.sandbox else ":"}
if [ -d /etc/nginx/sites-available ]; then
  install -m 0644 nginx-roost.conf /etc/nginx/sites-available/roost.conf
  ln -sf ../sites-available/roost.conf /etc/nginx/sites-enabled/roost.conf
  nginx -t && systemctl reload nginx
fi
systemctl daemon-reload
systemctl enable --now {units}
echo "Roost is starting: journalctl -u roost -f   (admin key: printed once in that log)"
"""


def render(s: SingleServer) -> dict[str, str]:
    """File name → content of everything ``roost deploy systemd`` writes."""
    files = {
        "roost.service": server_unit(s),
        "roost.env": env_file(s),
        "nginx-roost.conf": nginx_site(s),
        "install.sh": install_script(s),
    }
    if s.sandbox:
        files["roost-sandbox.service"] = sandbox_unit(s)
    return files


def write(s: SingleServer, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(s).items():
        path = dest / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755 if name.endswith(".sh") else 0o600 if name.endswith(".env") else 0o644)
        written.append(path)
    return written
