"""``roost deploy systemd``: the units pass ``systemd-analyze verify`` and the nginx site
passes ``nginx -t`` (Debian's systemd and nginx), written through the real command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roost.core import ConfigError
from roost.deploy.systemd import SingleServer, nginx_site

from ._tools import roost_cli


@pytest.fixture
def written(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    done = roost_cli(
        "deploy", "systemd", "app:app", "-o", str(out), "--workers", "4",
        "--server-name", "agents.corp.internal", "--prefix", sys.prefix,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_units_pass_systemd_analyze_verify(written: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze missing: apt-get install systemd")
    done = subprocess.run(
        [analyze, "verify", str(written / "roost.service"), str(written / "roost-sandbox.service")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    unit = (written / "roost.service").read_text()
    assert (
        f"ExecStart={sys.prefix}/bin/roost serve app:app --host 127.0.0.1 --port 8000 --workers 4"
        in unit
    )
    assert "ExecStartPre=" in unit and "db upgrade" in unit, "the schema is migrated before start"
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ):
        assert option in unit
    assert oct((written / "roost.env").stat().st_mode & 0o777) == "0o600", (
        "the config holds secrets"
    )


def test_a_broken_unit_fails_verify(written: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze missing: apt-get install systemd")
    bad = written / "bad.service"
    bad.write_text((written / "roost.service").read_text().replace(sys.prefix, "/nonexistent"))
    assert (
        subprocess.run([analyze, "verify", str(bad)], capture_output=True, check=False).returncode
        != 0
    )


def test_nginx_site_passes_nginx_t_and_streams_unbuffered(written: Path, tmp_path: Path) -> None:
    nginx, openssl = shutil.which("nginx"), shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl missing: apt-get install nginx-light openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=agents.corp.internal",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (written / "nginx-roost.conf").read_text()
    site = site.replace("/etc/roost/tls/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/roost/tls/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "proxy_buffering off;" in site and "proxy_read_timeout 3600s;" in site
    assert "server_name agents.corp.internal;" in site


def test_single_server_refuses_a_bad_server_name() -> None:
    with pytest.raises(ConfigError):
        nginx_site(SingleServer(server_name="bad name; include /etc/shadow"))
