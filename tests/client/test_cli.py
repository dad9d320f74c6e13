"""`selchat` options and environment for TLS and the password (no app, no network)."""

import ssl

import pytest

from selchat.client import cli


def resolve(argv, env=None):
    parser = cli.build_parser()
    return cli.resolve_security(parser.parse_args(argv), parser, env or {})


def test_plain_by_default():
    security = resolve([])
    assert security.tls is None and security.password is None


def test_tls_uses_the_system_trust_store():
    security = resolve(["--tls"])
    assert isinstance(security.tls, ssl.SSLContext)
    assert security.tls.verify_mode is ssl.CERT_REQUIRED and security.tls.check_hostname


def test_tls_ca_implies_tls_and_trusts_only_that_file(certificate):
    security = resolve(["--tls-ca", certificate[0]])
    assert security.tls is not None
    assert len(security.tls.get_ca_certs()) == 1


def test_environment_turns_tls_on_and_no_tls_wins(certificate):
    assert resolve([], {"SELCHAT_TLS": "1"}).tls is not None
    assert resolve([], {"SELCHAT_TLS": "0"}).tls is None
    assert resolve([], {"SELCHAT_TLS_CA": certificate[0]}).tls is not None
    assert resolve(["--no-tls"], {"SELCHAT_TLS": "1", "SELCHAT_TLS_CA": certificate[0]}).tls is None


@pytest.mark.parametrize("argv, env, message", [
    (["--no-tls", "--tls-ca", "x.pem"], {}, "--no-tls contradicts --tls-ca"),
    (["--tls-ca", "/no/such.pem"], {}, "--tls-ca /no/such.pem: No such file or directory"),
    ([], {"SELCHAT_TLS": "maybe"}, "SELCHAT_TLS='maybe': use 1 or 0"),
    (["--password-file", "/no/such"], {}, "--password-file /no/such: No such file or directory"),
])
def test_unusable_settings_are_usage_errors(argv, env, message, capsys):
    with pytest.raises(SystemExit) as exited:
        resolve(argv, env)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_a_certificate_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(SystemExit):
        resolve(["--tls-ca", str(junk)])
    assert "no certificate" in capsys.readouterr().err


def test_password_from_the_files_first_line_or_the_environment(tmp_path, capsys):
    path = tmp_path / "pw"
    path.write_text("open sesame\r\nsecond line\n")
    assert resolve(["--password-file", str(path)]).password == "open sesame"
    assert resolve([], {"SELCHAT_PASSWORD": "from env"}).password == "from env"
    assert resolve(["--password-file", str(path)], {"SELCHAT_PASSWORD": "x"}).password == "open sesame"
    path.write_text("\n")
    with pytest.raises(SystemExit):
        resolve(["--password-file", str(path)])
    assert "the first line is empty" in capsys.readouterr().err


def test_main_hands_tls_and_password_to_the_app(monkeypatch, certificate):
    import selchat.client.app as app_module

    made = {}

    class FakeApp:
        return_code = 0  # what Textual reports after a clean exit

        def __init__(self, host, port, nick, **kwargs):
            made.update(host=host, port=port, nick=nick, **kwargs)

        def run(self):
            made["ran"] = True

    monkeypatch.setattr(app_module, "SelchatApp", FakeApp)
    monkeypatch.setenv("SELCHAT_PASSWORD", "open sesame")
    assert cli.main(["--tls-ca", certificate[0], "--port", "9000", "--nick", "al"]) == 0
    assert made["ran"] and made["port"] == 9000 and made["nick"] == "al"
    assert isinstance(made["tls"], ssl.SSLContext) and made["password"] == "open sesame"
