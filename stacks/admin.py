"""Django admin: memberships (roles per environment) are managed here for now."""

from __future__ import annotations

from django.contrib import admin

from stacks.models import Environment, Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "environment", "role"]
    list_filter = ["environment", "role"]


admin.site.register(Environment)
