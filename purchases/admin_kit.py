"""Admin pieces the pipeline's records share: view-only pages, links between records, confirmed replays.

Purchases, evaluations, dispatches, attempts, awards and notifications are what
happened: the admin shows them and never edits them. The one write a CRM editor
makes here is replaying dead letters, through the same services the API uses, after
a confirmation page that says how many will be replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.actors import actor_for
from core.exceptions import ApplicationError

CONFIRMED = "replay_confirmed"


class RecordAdmin(admin.ModelAdmin):
    """A view-only record: Django titles the page "View …" and offers no Save, add or delete.

    `record_title` names the record in the page's heading and breadcrumbs (its `str()` unless a
    subclass knows a name a person recognises better).
    """

    change_form_template = "admin/record_change_form.html"

    def record_title(self, obj: Any) -> str:
        return str(obj)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context = {
                "subtitle": self.record_title(obj),
                **self.record_context(obj),
                **(extra_context or {}),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def record_context(self, obj: Any) -> dict[str, Any]:
        """More context for the record's page (subclasses)."""
        return {}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def change_url(obj: Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def changelist_url(model: str, **params: Any) -> str:
    """The admin list of `model` ("app_label.model_name"), filtered by `params` (admin lookups)."""
    app_label, model_name = model.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def link(url: str, text: Any) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def link_to(obj: Model | None, text: Any = None) -> str:
    """A link to `obj`'s admin page, or a dash when there is none."""
    if obj is None:
        return "—"
    return link(change_url(obj), text if text is not None else obj)


def counted(count: int, noun: tuple[str, str], adjective: str = "") -> str:
    """ "1 dead dispatch", "3 dead dispatches": the number and the noun that agrees with it."""
    words = [str(count), adjective, noun[0] if count == 1 else noun[1]]
    return " ".join(word for word in words if word)


def confirmed_replay(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    dead: QuerySet,
    replay: Callable[..., Any],
    noun: tuple[str, str],
    becomes: str,
    describe: Callable[[Any], str] = str,
) -> TemplateResponse | None:
    """The replay action in two steps: a page that says how many will be replayed, then the replay.

    `dead` is the part of the selection that can be replayed (`describe` names one of its rows on
    the confirmation page); `replay(pk, actor=...)` calls the service that replays one (it writes
    the audit event with the user as actor, and refuses a row that stopped being dead meanwhile)
    and says whether the row is on its way again. `noun` is (singular, plural).
    """
    if request.POST.get(CONFIRMED) != "yes":
        selected = queryset.count()
        replayable = dead.count()
        if not replayable:
            modeladmin.message_user(
                request,
                f"None of the {counted(selected, noun)} selected is dead: nothing to replay.",
                messages.WARNING,
            )
            return None
        skipped = selected - replayable
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"Replay {counted(replayable, noun, 'dead')}?",
            "opts": modeladmin.model._meta,
            "replayable": replayable,
            "summary": f"{counted(replayable, noun, 'dead')} will be replayed",
            "skipped_summary": (
                f"{counted(skipped, noun)} of the {selected} selected {'is' if skipped == 1 else 'are'} "
                "not dead and will be left alone."
                if skipped
                else ""
            ),
            "becomes": becomes,
            "sample": [describe(row) for row in dead[:20]],
            "action": request.POST.get("action", ""),
            "select_across": request.POST.get("select_across", "0"),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "index_param": request.POST.get("index", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "confirmed_name": CONFIRMED,
        }
        return TemplateResponse(request, "admin/replay_confirmation.html", context)

    actor = actor_for(request.user)
    replayed = refused = still_dead = 0
    for pk in dead.values_list("pk", flat=True):
        try:
            outcome = replay(pk, actor=actor)
        except ApplicationError:
            refused += 1  # no longer dead: sent or replayed by someone else meanwhile
        else:
            if outcome:
                replayed += 1
            else:
                still_dead += 1
    modeladmin.message_user(
        request,
        f"{counted(replayed, noun, 'dead')} replayed: {'it is' if replayed == 1 else 'they are'} {becomes} "
        "and will be sent again.",
        messages.SUCCESS,
    )
    if refused:
        modeladmin.message_user(
            request, f"{counted(refused, noun)} no longer dead, left alone.", messages.WARNING
        )
    if still_dead:
        modeladmin.message_user(
            request,
            f"{counted(still_dead, noun)} still dead after the replay: see the last error.",
            messages.ERROR,
        )
    return None
