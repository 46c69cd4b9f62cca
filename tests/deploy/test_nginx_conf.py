"""The hall's nginx configuration as deploy/hall.sh renders it, checked by nginx itself (`nginx -t`)."""
from __future__ import annotations

import re

import pytest
from _hall import Hall
from conftest import require_hall_packages
from test_manifests import app_upload_mb


def rendered(processes: int, balance: str) -> str:
    require_hall_packages()
    hall = Hall(processes, balance=balance)
    try:
        done = hall.script("config", str(processes), timeout=60)
        assert done.returncode == 0, done.stderr  # includes `nginx -t`
        return (hall.run / "nginx.conf").read_text()
    finally:
        hall.down()


def directives(conf: str) -> list[str]:
    return [line.split("#")[0].strip() for line in conf.splitlines() if line.split("#")[0].strip()]


@pytest.fixture(scope="module")
def cookie_conf() -> list[str]:
    return directives(rendered(3, "cookie"))


def test_affinity_hashes_the_proxys_cookie_not_the_address(cookie_conf):
    assert "hash $hall_key consistent;" in cookie_conf
    assert not any(d.startswith("ip_hash") or d.startswith("sticky") for d in cookie_conf)
    conf = "\n".join(cookie_conf)
    assert re.search(r'map \$cookie_moeviz_hall \$hall_key \{\s*""\s+\$request_id;', conf)
    assert "add_header Set-Cookie $hall_set_cookie always;" in cookie_conf


def test_every_process_is_a_server_with_passive_health_checks(cookie_conf):
    servers = [d for d in cookie_conf if d.startswith("server 127.0.0.1:")]
    assert len(servers) == 3 and all("max_fails=1 fail_timeout=10s" in s for s in servers)


def test_websocket_upgrade_unbuffered_and_the_apps_upload_limit(cookie_conf):
    for needed in ("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;",
                   "proxy_http_version 1.1;", "proxy_buffering off;", "proxy_request_buffering off;",
                   f"client_max_body_size {app_upload_mb() + 1}m;"):
        assert needed in cookie_conf, needed


def test_the_round_robin_variant_has_no_affinity():
    conf = directives(rendered(2, "round-robin"))
    assert not any(d.startswith(("hash", "ip_hash")) for d in conf)
    assert len([d for d in conf if d.startswith("server 127.0.0.1:")]) == 2
