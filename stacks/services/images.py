"""Images of a stack: what each deploy ran (tag, digest, image id), the override that
pins a rollback to those digests or names a build for `pushTo`, and image updates: a
tag whose registry digest moved on since the deploy (asked with a manifest HEAD, no
pull) is part of the desired revision (`images` in stack_config), so the stack reads
OutOfSync, a sync pulls it, and `autoUpdateImages` lets the schedule do so.

The hooks elsewhere are one line each: revision.stack_config / changes, the status
API's refresh, the schedule, the runner and notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from django.db.models import JSONField, OuterRef, Subquery

from stacks import engine, registry
from stacks.models import Deployment, GitStack
from stacks.services.registries import stack_logins

log = logging.getLogger(__name__)

Ran = dict[str, str]  # {"service", "image", "digest" (repo@sha256:…), "imageId"}


def _services(model: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(model.get("services") or {})


def model_images(model: Mapping[str, Any]) -> list[str]:
    """The image references a resolved compose model names."""
    return sorted({str(s["image"]) for s in _services(model).values() if s.get("image")})


def built_services(model: Mapping[str, Any]) -> list[str]:
    return sorted(name for name, s in _services(model).items() if s.get("build"))


def push_names(model: Mapping[str, Any], push_to: str, commit: str) -> dict[str, str]:
    """Per service that builds, the name it is pushed as: `<pushTo>:<commit>`, or with
    several such services `<pushTo>-<service>:<commit>` (one tag cannot hold two)."""
    built = built_services(model)
    if not push_to or not commit:
        return {}
    if len(built) == 1:
        return {built[0]: f"{push_to}:{commit}"}
    return {name: f"{push_to}-{name}:{commit}" for name in built}


def image_override(model: Mapping[str, Any], pins: Mapping[str, Ran], pushed: Mapping[str, str]) -> dict[str, Any]:
    """The compose override a deploy adds after the stack's files (empty: none): each
    pinned service's image at the exact digest it ran, each built one named for its push."""
    services: dict[str, Any] = {}
    for name in _services(model):
        digest = (pins.get(name) or {}).get("digest", "")
        if digest and name not in pushed:
            services[name] = {"image": digest}
        elif name in pushed:
            services[name] = {"image": pushed[name]}
    return {"services": services} if services else {}


def _digest_for(reference: str, repo_digests: Sequence[str]) -> str:
    """The one of an image's RepoDigests that belongs to `reference`'s repository."""
    try:
        wanted = registry.parse(reference)
    except ValueError:
        return ""
    for entry in repo_digests:
        try:
            found = registry.parse(entry)
        except ValueError:
            continue
        if registry.same_host(found.host, wanted.host) and found.repository == wanted.repository:
            return entry
    return ""


def ran_images(
    endpoint: engine.Endpoint,
    model: Mapping[str, Any],
    running: Iterable[engine.ContainerInfo],
    pins: Mapping[str, Ran] | None = None,
) -> list[Ran]:
    """Per service of the model, the image reference, digest and image id its containers
    run, as the engine says. A pinned service is recorded under the tag it was pinned from."""
    by_service = {c.service: c.image_id for c in running if c.image_id}
    try:
        digests = engine.repo_digests(endpoint, by_service.values())
    except engine.EngineError as exc:
        log.warning("image digests could not be read: %s", exc)
        digests = {}
    out = []
    for name, service in sorted(_services(model).items()):
        image = str(service.get("image") or "")
        image_id = by_service.get(name, "")
        digest = _digest_for(image, digests.get(image_id, [])) if image else ""
        pinned = (pins or {}).get(name)
        if pinned and pinned.get("digest") == image:
            image = pinned.get("image") or image
        out.append({"service": name, "image": image, "digest": digest, "imageId": image_id})
    return out


def _tagged(entries: Iterable[Ran]) -> dict[str, str]:
    """{tag reference: sha256 digest} of the entries that ran a tag from a registry."""
    return {e["image"]: e["digest"].rsplit("@", 1)[-1] for e in entries if e.get("digest") and "@" not in e["image"]}


# -- the desired revision ---------------------------------------------------------------


def images_config(stack: Any) -> dict[str, Any]:
    """stack_config's part: the digest each tag had when last asked (absent until a
    deploy recorded one, so revisions of stacks without images are unchanged; and in
    the migrations that predate the field)."""
    seen = getattr(stack, "image_digests", None)
    return {"images": dict(sorted(seen.items()))} if seen else {}


def image_changes(applied: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> list[str]:
    """`image team/app:stable has a newer digest`, per tag that moved since the deploy."""
    before, after = (applied or {}).get("images") or {}, desired.get("images") or {}
    return [f"image {ref} has a newer digest" for ref in sorted(after) if ref in before and before[ref] != after[ref]]


def image_reasons(stack: GitStack) -> list[str]:
    """The stack's image reasons alone (its pages tell them apart from saved changes)."""
    return image_changes(stack.applied_config, images_config(stack))


def stack_images_ran(*, stack: GitStack, ran: Sequence[Ran]) -> None:
    """After a successful deploy: the tags it ran are now the digests it ran."""
    stack.record(image_digests=_tagged(ran))


# -- asking the registries --------------------------------------------------------------


def last_ran(stack: GitStack) -> list[Ran]:
    """What the last successful deploy of the stack ran."""
    return last_ran_of([stack.pk]).get(stack.pk, [])


def last_ran_of(stack_ids: Collection[int]) -> dict[int, list[Ran]]:
    """last_ran for many stacks in one query (the clock checks thousands on a minute):
    stack id → what its last successful deploy ran (absent: none yet)."""
    last = (
        Deployment.objects.filter(stack=OuterRef("pk"), status=Deployment.Status.SUCCESS, deployed=True)
        .order_by("-finished_at", "-id")
        .values("images")[:1]
    )
    rows = (
        GitStack.objects.filter(pk__in=stack_ids)
        .annotate(ran=Subquery(last, output_field=JSONField()))
        .values_list("pk", "ran")
    )
    return {pk: [e for e in ran if isinstance(e, dict)] for pk, ran in rows if isinstance(ran, list)}


def stack_images_refresh(*, stack: GitStack, ran: Sequence[Ran] | None = None) -> list[str]:
    """Ask each registry for the current digest of every tag the stack runs (a HEAD of
    the manifest with the stack's logins) and keep what it says; the problems, in words
    that name the registry (never a password). `ran`: the stack's last_ran, when the
    caller read it already (for many stacks at once)."""
    running = _tagged(last_ran(stack) if ran is None else ran)
    if not running:
        return []
    logins = stack_logins(stack, running)
    seen, problems = dict(stack.image_digests), []
    for ref in sorted(running):
        try:
            seen[ref] = registry.remote_digest(ref, logins)
        except registry.RegistryError as exc:
            problems.append(str(exc))
        except Exception:  # one registry's odd answer must not stop the others (nor the clock)
            log.exception("asking the registry for %s failed", ref)
            problems.append(f"Registry of {ref}: its answer could not be read")
    seen = {ref: digest for ref, digest in seen.items() if ref in running}
    if seen != stack.image_digests:
        stack.record(image_digests=seen)
    return problems


def image_updates(stack: GitStack) -> list[dict[str, str]]:
    """The status API's `imageUpdates`: each service whose tag has another digest now."""
    out = []
    for entry in last_ran(stack):
        running = entry.get("digest", "").rsplit("@", 1)[-1]
        available = stack.image_digests.get(entry.get("image", ""))
        if running and available and available != running:
            out.append(
                {"service": entry["service"], "image": entry["image"], "running": running, "available": available}
            )
    return out


def services_to_pull(stack: GitStack) -> list[str]:
    """The services a sync pulls first: those whose tag moved (pullPolicy never: none)."""
    if stack.pull_policy == "never":
        return []
    return sorted({u["service"] for u in image_updates(stack)})


def scheduled_hold(stack: GitStack, head: str | None, desired: Mapping[str, Any]) -> str | None:
    """Why the schedule leaves a stack alone: only its images moved and it does not
    apply image updates by itself (autoUpdateImages off). None: it syncs."""
    if stack.auto_update_images or not image_changes(stack.applied_config, desired):
        return None
    applied = {k: v for k, v in (stack.applied_config or {}).items() if k != "images"}
    rest = {k: v for k, v in desired.items() if k != "images"}
    same_commit = (head or stack.remote_head) == stack.last_commit and not stack.pinned_commit
    if applied == rest and same_commit:
        return "a newer image is available; autoUpdateImages is off, so the schedule does not deploy it"
    return None


def moved_lines(deployment: Deployment) -> list[str]:
    """For a notification: `image X moved from sha256:A to sha256:B`, per tag whose
    digest this deploy changed against the previous successful one."""
    if deployment.stack_id is None or not deployment.images:
        return []
    before = (
        Deployment.objects.filter(stack_id=deployment.stack_id, status=Deployment.Status.SUCCESS, deployed=True)
        .exclude(pk=deployment.pk)
        .filter(finished_at__lte=deployment.finished_at)
        .order_by("-finished_at", "-id")
        .values_list("images", flat=True)
        .first()
    )
    old, new = _tagged(e for e in (before or []) if isinstance(e, dict)), _tagged(deployment.images)
    return [
        f"image {ref} moved from {old[ref]} to {new[ref]}" for ref in sorted(new) if ref in old and old[ref] != new[ref]
    ]
