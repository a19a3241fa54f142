"""Granting and revoking rights in a warehouse: one function per action, each checks and writes.

Invariants (docs/roles.md, "Who may grant what"):
- only an actor who may ``manage_warehouse_access`` in a warehouse grants or revokes there;
- an actor grants and revokes only the rights they hold in that warehouse themselves (a
  global grant or an object grant there; superusers hold every right), ``manage_warehouse_access``
  itself included; the model permissions of ``Warehouse`` (``change_warehouse``,
  ``delete_warehouse``, ...) are never given per warehouse (``warehouse_rights``);
- a request that asks for anything refused writes nothing (all rights are checked first);
- every right that actually changes is one ``WarehouseAccessChange`` row (who, to whom, what,
  where, when), written in the same transaction as the grant or revoke. Asking for a right the
  grantee already has (or revoking one they lack) changes nothing and records nothing.

The same rule for the model permissions and groups of ``/admin/auth/`` (``catalog.auth_admin``):
a non-superuser gives only permissions they hold, adds only to groups whose permissions they
all hold, never makes a superuser, and changes no user or group that holds more than they do
(``auth_permissions_held``, ``auth_groups_assignable``, ``auth_user_within_reach``,
``auth_group_within_reach``).

``actor=None`` is the system itself (a data migration, an operator's command) and may do all.
The admin's permission pages only translate their form into a call of these; the demo loader
and test set-ups may still use guardian's ``assign_perm`` directly (no audit row then).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms, remove_perm

from common.actors import Actor

from .models import AccessChangeKind, Warehouse, WarehouseAccessChange
from .permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows

SYSTEM = "(system)"


class WarehouseAccessDenied(WarehousePermissionDenied):
    """The actor may not grant or revoke (some of) the rights asked; ``refused`` names them."""

    def __init__(self, message: str, *, refused: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.refused = tuple(refused)


def warehouse_rights() -> dict[str, str]:
    """Every right that can be given in a warehouse: the warehouse actions
    (``WarehouseAction.ALL``), codename -> its name. The model permissions of ``Warehouse``
    (add, change, delete, view) are a role's, never given per warehouse: nothing reads them
    per object, and offering them there only invited granting ``delete_warehouse`` to a group."""
    names = dict(
        Permission.objects.filter(content_type__app_label="catalog", codename__in=WarehouseAction.ALL).values_list(
            "codename", "name"
        )
    )
    return {codename: names.get(codename, _label(codename)) for codename in WarehouseAction.ALL}


def _label(codename: str) -> str:
    return WarehouseAction.LABELS.get(codename, codename.replace("_", " "))


def _holds(actor: Actor, warehouse: Warehouse, codename: str) -> bool:
    full = f"catalog.{codename}"
    return actor.has_perm(full) or actor.has_perm(full, warehouse)


def warehouse_access_grantable(actor: Actor | None, warehouse: Warehouse) -> list[str]:
    """The rights ``actor`` may grant and revoke in ``warehouse``: none without
    ``manage_warehouse_access`` there, else every right of the warehouse they hold there."""
    rights = list(warehouse_rights())
    if actor is None:
        return rights
    if not warehouse_allows(actor, warehouse, WarehouseAction.MANAGE_ACCESS):
        return []
    return [codename for codename in rights if _holds(actor, warehouse, codename)]


def _grantee(user: Actor | None, group: Group | None) -> tuple[Actor | Group, str]:
    if (user is None) == (group is None):
        raise ValidationError("Name exactly one user or one group to give rights to.")
    if user is not None:
        return user, f"user {user.get_username()}"
    assert group is not None  # exactly one of the two, checked above
    return group, f"group {group.name}"


def _current(grantee: Actor | Group, warehouse: Warehouse) -> set[str]:
    if isinstance(grantee, Group):
        return set(get_group_perms(grantee, warehouse).values_list("codename", flat=True))
    return set(get_user_perms(grantee, warehouse).values_list("codename", flat=True))


def _checked(actor: Actor | None, warehouse: Warehouse, perms: Iterable[str], verb: str) -> set[str]:
    """``perms`` as codenames, after refusing unknown ones and those the actor may not manage."""
    wanted = {perm.removeprefix("catalog.") for perm in perms}
    unknown = sorted(wanted - set(warehouse_rights()))
    if unknown:
        raise ValidationError(f"No such right of a warehouse: {', '.join(unknown)}.")
    if actor is None:
        return wanted
    if not warehouse_allows(actor, warehouse, WarehouseAction.MANAGE_ACCESS):
        raise WarehouseAccessDenied(
            f"{actor} may not grant or revoke rights in warehouse {warehouse.code}: that needs "
            f"'{_label(WarehouseAction.MANAGE_ACCESS)}' there.",
            refused=sorted(wanted),
        )
    refused = sorted(wanted - set(warehouse_access_grantable(actor, warehouse)))
    if refused:
        names = ", ".join(f"'{_label(codename)}'" for codename in refused)
        raise WarehouseAccessDenied(
            f"{actor} may not {verb} {names} in warehouse {warehouse.code}: "
            "only rights you hold there yourself can be granted or revoked.",
            refused=refused,
        )
    return wanted


def _record(
    *,
    kind: str,
    codenames: Iterable[str],
    warehouse: Warehouse,
    actor: Actor | None,
    grantee: Actor | Group,
    grantee_name: str,
) -> None:
    now = timezone.now()
    WarehouseAccessChange.objects.bulk_create(
        WarehouseAccessChange(
            at=now,
            kind=kind,
            permission=codename,
            warehouse=warehouse,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else SYSTEM,
            user=grantee if isinstance(grantee, Actor) else None,
            group=grantee if isinstance(grantee, Group) else None,
            grantee_name=grantee_name,
        )
        for codename in sorted(codenames)
    )


def _change(
    kind: str,
    *,
    warehouse: Warehouse,
    actor: Actor | None,
    user: Actor | None,
    group: Group | None,
    perms: Iterable[str],
) -> list[str]:
    """Grant (``kind`` GRANT) or revoke ``perms``: check them all, change only what differs from
    the grantee's object grants there, and record each change. Returns the codenames changed."""
    grantee, grantee_name = _grantee(user, group)
    granting = kind == AccessChangeKind.GRANT
    wanted = _checked(actor, warehouse, perms, "grant" if granting else "revoke")
    current = _current(grantee, warehouse)
    changed = sorted(wanted - current if granting else wanted & current)
    for codename in changed:
        (assign_perm if granting else remove_perm)(f"catalog.{codename}", grantee, warehouse)
    _record(kind=kind, codenames=changed, warehouse=warehouse, actor=actor, grantee=grantee, grantee_name=grantee_name)
    return changed


@transaction.atomic
def warehouse_access_grant(
    *,
    warehouse: Warehouse,
    actor: Actor | None,
    user: Actor | None = None,
    group: Group | None = None,
    perms: Iterable[str],
) -> list[str]:
    """Give ``user`` or ``group`` the rights ``perms`` (codenames) in ``warehouse``. Returns the
    codenames newly granted (those already held are skipped). Raises ``WarehouseAccessDenied``
    (nothing written) when the actor may not grant one of them."""
    return _change(AccessChangeKind.GRANT, warehouse=warehouse, actor=actor, user=user, group=group, perms=perms)


@transaction.atomic
def warehouse_access_revoke(
    *,
    warehouse: Warehouse,
    actor: Actor | None,
    user: Actor | None = None,
    group: Group | None = None,
    perms: Iterable[str],
) -> list[str]:
    """Take the rights ``perms`` in ``warehouse`` from ``user`` or ``group`` (their object grants;
    a role's global grant is the role's business). Returns the codenames actually revoked.
    Raises ``WarehouseAccessDenied`` (nothing written) when the actor may not revoke one."""
    return _change(AccessChangeKind.REVOKE, warehouse=warehouse, actor=actor, user=user, group=group, perms=perms)


@transaction.atomic
def warehouse_access_set(
    *,
    warehouse: Warehouse,
    actor: Actor | None,
    user: Actor | None = None,
    group: Group | None = None,
    perms: Iterable[str],
) -> tuple[list[str], list[str]]:
    """What a permissions form saves: among the rights the actor may manage in ``warehouse``,
    the grantee ends with exactly ``perms``; rights the actor may not manage stay as they are.
    Returns (granted, revoked). All or nothing: a refused right writes nothing."""
    grantee, _ = _grantee(user, group)
    wanted = _checked(actor, warehouse, perms, "grant")
    manageable = set(warehouse_access_grantable(actor, warehouse))
    revoked = warehouse_access_revoke(
        warehouse=warehouse,
        actor=actor,
        user=user,
        group=group,
        perms=(manageable & _current(grantee, warehouse)) - wanted,
    )
    granted = warehouse_access_grant(warehouse=warehouse, actor=actor, user=user, group=group, perms=wanted)
    return granted, revoked


# --- The same rule for /admin/auth/ --------------------------------------------------------------


def auth_permissions_held(actor: Actor) -> QuerySet[Permission]:
    """The model permissions ``actor`` holds (their own and their groups'; every one for a
    superuser): the only ones they may give a user or a group."""
    if actor.is_superuser:
        return Permission.objects.all()
    if not actor.is_active:
        return Permission.objects.none()
    return Permission.objects.filter(Q(user=actor) | Q(group__user=actor)).distinct()


def auth_groups_assignable(actor: Actor) -> QuerySet[Group]:
    """Groups ``actor`` may add a user to: those whose permissions ``actor`` all holds."""
    if actor.is_superuser:
        return Group.objects.all()
    beyond = Permission.objects.exclude(pk__in=auth_permissions_held(actor).values("pk"))
    return Group.objects.exclude(permissions__in=beyond)


def auth_user_within_reach(actor: Actor, target: Actor) -> bool:
    """May ``actor`` change (or delete, or set the password of) ``target``? Not a superuser
    unless the actor is one, and not a user holding a permission the actor lacks."""
    if actor.is_superuser:
        return True
    if target.is_superuser:
        return False
    theirs = Permission.objects.filter(Q(user=target) | Q(group__user=target))
    return not theirs.exclude(pk__in=auth_permissions_held(actor).values("pk")).exists()


def auth_group_within_reach(actor: Actor, group: Group) -> bool:
    """May ``actor`` change (or delete) ``group``? Only if they hold all its permissions."""
    if actor.is_superuser:
        return True
    return not group.permissions.exclude(pk__in=auth_permissions_held(actor).values("pk")).exists()
