# Credentials get a scope: the URL prefixes they may be sent to, the environments that
# may use them, and an opt-in for passwords and tokens over plain http.
#
# An existing credential keeps working where it is used: it gets the scheme://host[:port]/
# of each repository using it, and the plain-http opt-in when one of those already
# sends it over http:// to a host other than loopback. One no repository uses gets no
# prefix, so it is sent nowhere until someone scopes it.
#
# The URL reading is written out here, not imported: a migration must do the same
# thing whatever gitsync/remotes.py becomes.

import ipaddress
import re
from urllib.parse import urlsplit

from django.db import migrations, models

_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~][A-Za-z0-9._~-]*@(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}


def _origin(url):
    """(scheme://host[:port]/, host) of a repository URL, or None when it has none."""
    scp = _SCP_LIKE.match(url)
    if scp:
        host = scp["host"].lower().removesuffix(".")
        return f"ssh://{host}/", host
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().removesuffix(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    try:
        address = ipaddress.ip_address(host)
        host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    except ValueError:
        pass
    shown_port = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{shown_port}/", host


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def scope_existing(apps, schema_editor):
    Credential = apps.get_model("gitsync", "Credential")
    Repository = apps.get_model("gitsync", "Repository")
    for credential in Credential.objects.all():
        prefixes, plain_http = [], False
        for url in Repository.objects.filter(credential=credential).values_list("url", flat=True):
            origin = _origin(url)
            if origin is None:
                continue
            prefix, host = origin
            if prefix not in prefixes:
                prefixes.append(prefix)
            plain_http = plain_http or (prefix.startswith("http://") and not _loopback(host))
        credential.url_prefixes = sorted(prefixes)
        credential.allow_plain_http = plain_http and credential.auth_type in ("password", "token")
        credential.save(update_fields=["url_prefixes", "allow_plain_http"])


class Migration(migrations.Migration):

    dependencies = [
        ('gitsync', '0003_webhook_delivery_moves_to_stacks'),
    ]

    operations = [
        migrations.AddField(
            model_name='credential',
            name='url_prefixes',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='credential',
            name='environment_ids',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='credential',
            name='allow_plain_http',
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(scope_existing, migrations.RunPython.noop),
    ]
