"""TLS of deliveries against real TLS receivers on loopback: certificates are verified
against the system's CAs and `system.tls.ca_file`; an untrusted one or one for another name
fails the delivery at once with the fix, instead of being retried like a network error;
`tls_verify: false` on a ctl accepts any (and `tidings check` warns); mail trusts the same
ca_file."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from helpers import enqueue_tasks
from hostile import RawServer, ok, server_tls
from tidings.config.loading import loads
from tidings.delivery.http import HttpClient, HttpError
from tidings.delivery.resolve import Resolver
from tidings.delivery.worker import Backoff, Settings, Worker
from tidings.errors import ConfigError
from tidings.store.db import Store


async def post(client: HttpClient, url: str, verify: bool = True) -> int:
    answer = await client.request("POST", url, {}, b"{}", 5, verify=verify)
    return answer.status


async def test_a_self_signed_certificate_is_refused_at_once_and_trusted_with_ca_file(tmp_path):
    context, cert = server_tls(tmp_path)
    async with RawServer(lambda n, r: ok(), tls=context) as server:
        async with HttpClient() as client:
            with pytest.raises(HttpError) as caught:
                await post(client, server.url())
        assert str(caught.value) == (
            "TLS certificate of 127.0.0.1 not trusted (self-signed certificate): if a private "
            "CA signed it, add that CA's certificate to system.tls.ca_file"
        )
        assert caught.value.permanent and not caught.value.sent
        async with HttpClient(ca_file=str(cert)) as client:
            assert await post(client, server.url()) == 200
            assert await post(client, server.url()) == 200
    assert len(server.requests) == 2 and server.connections == 1


async def test_a_certificate_for_another_name_is_refused(tmp_path):
    context, cert = server_tls(tmp_path, names=("hooks.example.org",))
    server = RawServer(lambda n, r: ok(), tls=context)
    async with server, HttpClient(ca_file=str(cert)) as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"https://localhost:{server.port}/hook")
    assert str(caught.value).startswith("TLS certificate of localhost is not valid for that name")
    assert caught.value.permanent


async def test_without_verification_any_certificate_goes_but_on_its_own_connections(tmp_path):
    context, _ = server_tls(tmp_path)
    async with RawServer(lambda n, r: ok(), tls=context) as server, HttpClient() as client:
        assert await post(client, server.url(), verify=False) == 200
        with pytest.raises(HttpError, match="not trusted"):  # the unverified one is not reused
            await post(client, server.url())


# --- the configuration and the worker --------------------------------------------------------


def config_of(url: str, system: str = "", ctl: str = "") -> str:
    return textwrap.dedent(
        f"""
        system: {{{system}}}
        workflows:
          - name: bulk
            notify_ctls:
              - {{webhook_type: webhook, notify_type: [passed], {ctl}
                  webhook_notification_config: {{address: '{url}'}}}}
        """
    )


async def deliver(tmp_path: Path, text: str) -> tuple[str, int, str | None]:
    """One delivery by a worker running this configuration: (status, attempts, last error)."""
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()
    config = loads(text)
    ids = enqueue_tasks(store, config, 1)
    settings = Settings(timeout=3, backoff=Backoff(base=60))
    async with Worker(store, Resolver(config), settings=settings) as worker:
        await worker.run_until(ids, time.time() + 2)
    with store.transaction(write=False) as db:
        (row,) = db.run("SELECT status, attempts, last_error FROM deliveries")
    store.close()
    return row


async def test_the_worker_fails_an_untrusted_receiver_at_once_and_trusts_system_tls(tmp_path):
    context, cert = server_tls(tmp_path / "cert")
    async with RawServer(lambda n, r: ok(), tls=context) as server:
        status, attempts, error = await deliver(tmp_path / "a", config_of(server.url()))
        assert (status, attempts) == ("failed", 1)
        assert error is not None and error.endswith("CA's certificate to system.tls.ca_file")
        trusted = config_of(server.url(), system=f"tls: {{ca_file: '{cert}'}}")
        assert (await deliver(tmp_path / "b", trusted))[:2] == ("sent", 1)
        unverified = config_of(server.url(), ctl="tls_verify: false,")
        assert (await deliver(tmp_path / "c", unverified))[:2] == ("sent", 1)


def test_check_warns_about_tls_verify_false_and_refuses_a_bad_ca_file(tmp_path, cli):
    (tmp_path / "tidings.yaml").write_text(
        config_of("https://hooks.example.org/x", ctl="tls_verify: false,"), "utf-8"
    )
    result = cli("check", "-c", "tidings.yaml")
    assert result.code == 0, result.output
    assert "tls_verify" in result.output and "system.tls.ca_file" in result.output
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello", "utf-8")
    with pytest.raises(ConfigError) as caught:
        loads(config_of("https://h.example/x", system=f"tls: {{ca_file: '{not_pem}'}}"))
    assert "holds no PEM CA certificate" in "".join(str(p) for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        loads(config_of("https://h.example/x", system="tls: {ca_file: /nonexistent.pem}"))
    assert "cannot read /nonexistent.pem" in "".join(str(p) for p in caught.value.problems)


def test_ctls_of_one_destination_must_agree_on_how_it_is_reached():
    url = "https://hooks.example.org/x"
    text = config_of(url) + (
        "      - {webhook_type: webhook, notify_type: [failed], proxy: false,\n"
        f"         webhook_notification_config: {{address: '{url}'}}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert "reached one way" in "".join(str(p) for p in caught.value.problems)


async def test_mail_trusts_system_tls_ca_file(tmp_path):
    from tidings.sandbox import Sandbox

    smtp = {"security": "starttls", "users": {"tidings": "smtp-password-5b8e2d9f1c7a"}}
    async with Sandbox(smtp=smtp) as sb:
        server = (
            f"{{host: 127.0.0.1, port: {sb.smtp.port}, security: starttls, username: tidings, "
            "password: smtp-password-5b8e2d9f1c7a, sender: ci@example.com}"
        )
        text = textwrap.dedent(
            f"""
            system:
              smtp: {server}
              tls: {{ca_file: '{sb.smtp.cafile}'}}
            workflows:
              - name: bulk
                notify_ctls:
                  - webhook_type: mail
                    notify_type: [passed]
                    mail_notification_config:
                      target_users: [{{type: email, user_name: ops@example.com}}]
            """
        )
        assert (await deliver(tmp_path, text))[:2] == ("sent", 1)
        assert [r.destination for r in sb.accepted("mail")] == ["ops@example.com"]
