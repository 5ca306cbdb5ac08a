"""Campaign, item rule and lifecycle endpoints (SPEC §2, §4): parse, call one service, render."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import budgets, selectors, services, transfer
from campaigns.models import Campaign, CampaignTransition, ItemRule
from campaigns.serializers import (
    BudgetLedgerSerializer,
    BudgetSerializer,
    BulkRequestSerializer,
    BulkResultSerializer,
    CampaignSerializer,
    CampaignTransitionSerializer,
    ItemRuleImportResultSerializer,
    ItemRuleImportSerializer,
    ItemRuleSerializer,
    LifecycleSerializer,
)
from core.actors import actor_for
from core.exceptions import ApplicationError, PayloadTooLargeError, ValidationFailed
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices, help_text="Only this status.")
    kind = django_filters.ChoiceFilter(choices=Campaign.Kind.choices, help_text="Only this kind.")
    partner = django_filters.CharFilter(field_name="partner__slug", help_text="Only this partner's (slug).")

    class Meta:
        model = Campaign
        fields = ["status", "kind", "partner"]


class CsvBodyParser(BaseParser):
    """`Content-Type: text/csv`: the body is the file (the import also takes multipart `file`)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


VIEW_CAMPAIGN = "campaigns.view_campaign"
CAMPAIGN_ID = OpenApiParameter(
    "campaign_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Campaign id."
)


class CampaignListCreateApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CAMPAIGN], "POST": ["campaigns.add_campaign"]}
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_queryset(self):
        return selectors.campaign_list()

    @extend_schema(
        summary="List campaigns",
        responses={200: CampaignSerializer(many=True), **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a campaign (status draft)",
        description="`id`, `status` and `version` are read-only: ignored if sent. A new campaign is a "
        "`draft` at version 1.",
        request=CampaignSerializer,
        responses={201: CampaignSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = CampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(actor=actor_for(request.user), **serializer.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {
        "GET": [VIEW_CAMPAIGN],
        "PUT": ["campaigns.change_campaign"],
        "PATCH": ["campaigns.change_campaign"],
        "DELETE": ["campaigns.delete_campaign"],
    }
    serializer_class = CampaignSerializer

    @extend_schema(
        summary="Read a campaign",
        parameters=[CAMPAIGN_ID],
        responses={200: CampaignSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(CampaignSerializer(selectors.campaign_get(campaign_id=campaign_id)).data)

    def _update(self, request: Request, campaign_id: int, *, partial: bool) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        serializer = CampaignSerializer(campaign, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_update(
            campaign_id=campaign.pk, actor=actor_for(request.user), data=serializer.validated_data
        )
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(
        summary="Replace a campaign's configuration",
        description="Every edit bumps `version`. Only draft, active and paused campaigns can be edited (409 "
        "`campaign_not_editable` otherwise). `id`, `status`, `version` are ignored if sent.",
        parameters=[CAMPAIGN_ID],
        request=CampaignSerializer,
        responses={200: CampaignSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def put(self, request: Request, campaign_id: int) -> Response:
        return self._update(request, campaign_id, partial=False)

    @extend_schema(
        summary="Change some fields of a campaign",
        description="Every edit bumps `version`. Only draft, active and paused campaigns can be edited (409 "
        "`campaign_not_editable` otherwise). `id`, `status`, `version` are ignored if sent.",
        parameters=[CAMPAIGN_ID],
        request=CampaignSerializer(partial=True),
        responses={200: CampaignSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def patch(self, request: Request, campaign_id: int) -> Response:
        return self._update(request, campaign_id, partial=True)

    @extend_schema(
        summary="Delete a draft campaign",
        description="Only `draft` campaigns can be deleted (409 `campaign_not_draft`); cancel the others.",
        parameters=[CAMPAIGN_ID],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def delete(self, request: Request, campaign_id: int) -> Response:
        services.campaign_delete(
            campaign_id=selectors.campaign_get(campaign_id=campaign_id).pk, actor=actor_for(request.user)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


_LIFECYCLE_DOCS = {
    "activate": "draft → active. Needs an active partner and `ends_at` in the future "
    "(409 `partner_required`, `partner_inactive`, `campaign_ended`). A campaign whose budget is above the "
    "brand's `approval_threshold` goes to `pending_approval` instead (SPEC §13).",
    "approve": "pending_approval → active, by another person than the one who activated it "
    "(403 `approver_is_requester`; for API keys, another key).",
    "pause": "active → paused.",
    "resume": "paused → active, only before `ends_at` (409 `campaign_ended`).",
    "complete": "active|paused → completed (also done automatically within a minute of `ends_at`).",
    "cancel": "draft|pending_approval|active|paused → cancelled. `note` (the justification) is required: "
    "400 without it.",
}


class CampaignLifecycleApi(GenericAPIView):
    """One lifecycle action; `lifecycle_action` is set per URL."""

    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.change_campaign"]}
    serializer_class = LifecycleSerializer
    lifecycle_action = ""

    def post(self, request: Request, campaign_id: int) -> Response:
        serializer = LifecycleSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        service = services.LIFECYCLE_ACTIONS[self.lifecycle_action]
        extra = (
            {"identity": services.approval_identity(request.user)}
            if self.lifecycle_action in ("activate", "approve")
            else {}
        )
        campaign = service(
            campaign_id=selectors.campaign_get(campaign_id=campaign_id).pk,
            actor=actor_for(request.user),
            note=serializer.validated_data["note"],
            **extra,
        )
        return Response(CampaignSerializer(campaign).data)


def lifecycle_view(action: str):
    """The view of one lifecycle action, with its own OpenAPI operation."""

    def post(self, request: Request, campaign_id: int) -> Response:
        return CampaignLifecycleApi.post(self, request, campaign_id)

    post = extend_schema(
        summary=f"{action.title()} a campaign",
        description=_LIFECYCLE_DOCS[action] + " Any other transition → 409 `invalid_transition`. "
        "Writes one audit row (who, when, from, to). Answers the campaign.",
        parameters=[CAMPAIGN_ID],
        request=LifecycleSerializer,
        responses={200: CampaignSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
        operation_id=f"campaigns_{action}",
    )(post)
    view = type(
        f"Campaign{action.title()}Api", (CampaignLifecycleApi,), {"lifecycle_action": action, "post": post}
    )
    return view.as_view()


class CampaignDuplicateApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.add_campaign", "campaigns.add_itemrule"]}
    serializer_class = CampaignSerializer

    @extend_schema(
        summary="Duplicate a campaign",
        description="A new `draft` with the same configuration and item rules, named `<name> (copy)` "
        "(`(copy 2)`, … when taken).",
        parameters=[CAMPAIGN_ID],
        request=None,
        responses={201: CampaignSerializer, **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        copy = services.campaign_duplicate(
            campaign_id=selectors.campaign_get(campaign_id=campaign_id).pk, actor=actor_for(request.user)
        )
        return Response(CampaignSerializer(copy).data, status=status.HTTP_201_CREATED)


class CampaignTransitionListApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CAMPAIGN, "campaigns.view_campaigntransition"]}
    serializer_class = CampaignTransitionSerializer
    queryset = CampaignTransition.objects.none()  # for the schema

    @extend_schema(
        summary="A campaign's lifecycle history",
        description="One row per status change, oldest first: who (`actor`), when, from, to, note. "
        'Creation is the row from `""` to `draft`.',
        parameters=[CAMPAIGN_ID],
        responses={200: CampaignTransitionSerializer(many=True), **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        page = self.paginate_queryset(selectors.campaign_transition_list(campaign_id=campaign.pk))
        return self.get_paginated_response(CampaignTransitionSerializer(page, many=True).data)


class ItemRuleListCreateApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {
        "GET": [VIEW_CAMPAIGN, "campaigns.view_itemrule"],
        "POST": ["campaigns.add_itemrule"],
    }
    serializer_class = ItemRuleSerializer
    queryset = ItemRule.objects.none()  # for the schema; the view reads through selectors

    @extend_schema(
        summary="List a campaign's item rules",
        parameters=[CAMPAIGN_ID],
        responses={200: ItemRuleSerializer(many=True), **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        page = self.paginate_queryset(selectors.item_rule_list(campaign_id=campaign.pk))
        return self.get_paginated_response(ItemRuleSerializer(page, many=True).data)

    @extend_schema(
        summary="Add an item rule",
        description="Bumps the campaign's `version`. A rule with the same (`kind`, `match`, `value`) → "
        "400 on `value`. Only draft, active and paused campaigns (409 `campaign_not_editable`).",
        parameters=[CAMPAIGN_ID],
        request=ItemRuleSerializer,
        responses={201: ItemRuleSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        serializer = ItemRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.item_rule_add(
            campaign_id=campaign.pk, actor=actor_for(request.user), **serializer.validated_data
        )
        return Response(ItemRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


RULE_ID = OpenApiParameter("rule_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Item rule id.")


class ItemRuleDetailApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {
        "GET": [VIEW_CAMPAIGN, "campaigns.view_itemrule"],
        "PATCH": ["campaigns.change_itemrule"],
        "DELETE": ["campaigns.delete_itemrule"],
    }
    serializer_class = ItemRuleSerializer

    @extend_schema(
        summary="Read an item rule",
        parameters=[CAMPAIGN_ID, RULE_ID],
        responses={200: ItemRuleSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int, rule_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        return Response(
            ItemRuleSerializer(selectors.item_rule_get(campaign_id=campaign.pk, rule_id=rule_id)).data
        )

    @extend_schema(
        summary="Change an item rule",
        description="Bumps the campaign's `version` when something changed. Clashing with another rule's "
        "(`kind`, `match`, `value`) → 400 on `value`. Only draft, active and paused campaigns (409).",
        parameters=[CAMPAIGN_ID, RULE_ID],
        request=ItemRuleSerializer(partial=True),
        responses={200: ItemRuleSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def patch(self, request: Request, campaign_id: int, rule_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        rule = selectors.item_rule_get(campaign_id=campaign.pk, rule_id=rule_id)
        serializer = ItemRuleSerializer(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = services.item_rule_update(
            campaign_id=campaign.pk,
            rule_id=rule.pk,
            actor=actor_for(request.user),
            data=serializer.validated_data,
        )
        return Response(ItemRuleSerializer(rule).data)

    @extend_schema(
        summary="Remove an item rule",
        description="Bumps the campaign's `version`.",
        parameters=[CAMPAIGN_ID, RULE_ID],
        responses={204: OpenApiResponse(description="Removed."), **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def delete(self, request: Request, campaign_id: int, rule_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        services.item_rule_remove(campaign_id=campaign.pk, rule_id=rule_id, actor=actor_for(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemRuleImportApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.add_itemrule"]}
    serializer_class = ItemRuleImportSerializer
    parser_classes = [MultiPartParser, FormParser, CsvBodyParser, JSONParser]

    @extend_schema(
        summary="Import item rules from CSV (all or nothing)",
        description="Columns `kind,match,value,multiplier,bonus_per_unit` (header line optional; with a "
        "header the columns may be in any order and the last two left out). Send a multipart form with "
        "the field "
        "`file`, or the CSV itself as a `text/csv` body. Nothing is imported unless every row is valid: each "
        "bad row is reported by its line number under `error.fields.rows` (e.g. "
        '`{"rows": {"3": {"multiplier": ["Must be at least 1."]}}}`); a row repeating another row, or a rule '
        "the campaign already has, is an error. Bumps the campaign's `version` once.",
        parameters=[CAMPAIGN_ID],
        request={
            "multipart/form-data": ItemRuleImportSerializer,
            "text/csv": OpenApiTypes.STR,
        },
        responses={201: ItemRuleImportResultSerializer, **error_responses(400, 404, 409, 413, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "CSV",
                value="kind,match,value,multiplier,bonus_per_unit\nwhitelist,sku,SKU-1,2,0.50\n"
                "blacklist,category,tobacco,,\n",
                request_only=True,
                media_type="text/csv",
            )
        ],
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        if isinstance(request.data, bytes):
            content = request.data
        elif "file" in request.FILES:
            content = request.FILES["file"].read()
        else:
            raise ApplicationError(
                "Send the CSV as a multipart field `file` or as a text/csv body.",
                code="invalid_csv",
                fields={"file": ["No file was sent."]},
            )
        result = services.item_rules_import_csv(
            campaign_id=campaign.pk, actor=actor_for(request.user), content=content
        )
        return Response(
            {"imported": result.imported, "campaign_version": result.campaign.version},
            status=status.HTTP_201_CREATED,
        )


# --------------------------------------------------------------------------- budgets (SPEC §13)


class BudgetApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CAMPAIGN], "PUT": ["campaigns.change_campaign"]}
    serializer_class = BudgetSerializer

    @extend_schema(
        summary="Read a campaign's budget",
        parameters=[CAMPAIGN_ID],
        responses={200: BudgetSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(BudgetSerializer(selectors.budget_get(campaign_id=campaign_id)).data)

    @extend_schema(
        summary="Set a campaign's budget",
        description="Creates or replaces the budget's `kind`, `limit`, `period`, `pause_at_percent`. A limit "
        "below what is already committed + reserved is 409 `budget_below_used`; a spend budget needs a "
        "numeric reward value (400).",
        parameters=[CAMPAIGN_ID],
        request=BudgetSerializer,
        responses={200: BudgetSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def put(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        serializer = BudgetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        budget = budgets.budget_set(
            campaign_id=campaign.pk, actor=actor_for(request.user), **serializer.validated_data
        )
        return Response(BudgetSerializer(budget).data)


class BudgetLedgerApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CAMPAIGN]}
    serializer_class = BudgetLedgerSerializer

    @extend_schema(
        summary="A campaign budget's ledger",
        description="Every reservation, oldest first, with how it was settled (`committed`, `released`) or "
        "`reserved` while open. Paginated.",
        parameters=[CAMPAIGN_ID],
        responses={200: BudgetLedgerSerializer(many=True), **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        budget = selectors.budget_get(campaign_id=campaign_id)
        page = self.paginate_queryset(selectors.budget_ledger(budget=budget))
        return self.get_paginated_response(BudgetLedgerSerializer(page, many=True).data)


# --------------------------------------------------------------------------- bulk (SPEC §13)


class CampaignBulkApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.change_campaign"]}
    serializer_class = BulkRequestSerializer

    @extend_schema(
        summary="One lifecycle action (or delete) on up to 1000 campaigns",
        description="Each id is its own transaction and audit row; the results come in request order: `ok`, "
        "`conflict` (with `error`) or `not_found`. `dry_run` checks without changing anything. `cancel` takes "
        "the `note` it requires. Over 1000 ids → 413.",
        request=BulkRequestSerializer,
        responses={200: BulkResultSerializer, **error_responses(400, 413, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        ids = request.data.get("ids") if isinstance(request.data, dict) else None
        if isinstance(ids, list) and len(ids) > services.BULK_MAX_IDS:
            raise PayloadTooLargeError(f"At most {services.BULK_MAX_IDS} ids per request; got {len(ids)}.")
        serializer = BulkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = services.campaigns_bulk(
            actor=actor_for(request.user),
            identity=services.approval_identity(request.user),
            **serializer.validated_data,
        )
        return Response({"results": [r.as_dict() for r in results]})


# --------------------------------------------------------------------------- export / import (SPEC §13)


class CampaignExportApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CAMPAIGN]}
    serializer_class = None

    @extend_schema(
        summary="Export campaigns as JSON",
        description='`{"schema_version": 1, "campaigns": [...]}` with item rules, segment (by name), '
        "eligibility and budget configuration. `ids` is a comma-separated list (all campaigns when absent; "
        "at most 1000).",
        parameters=[OpenApiParameter("ids", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False)],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        text = request.query_params.get("ids")
        ids = None
        if text is not None:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            if not parts or not all(p.isdigit() and len(p) < 19 for p in parts) or len(parts) > 1000:
                raise ValidationFailed(
                    {"ids": ["A comma-separated list of up to 1000 campaign ids, like 1,2,3."]}
                )
            ids = [int(p) for p in parts]
        return Response(transfer.campaigns_export(ids=ids))


class CampaignImportApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.add_campaign"]}
    serializer_class = None

    @extend_schema(
        summary="Import campaigns (as drafts, all or nothing)",
        description="The body is an export document. `?dry_run=1` validates and says what would be created. "
        "A name already taken is 409 `name_taken` unless `?on_conflict=rename`. Any invalid campaign is one 400 "
        "whose fields name it (`campaigns[3].name`).",
        parameters=[
            OpenApiParameter("dry_run", OpenApiTypes.BOOL, OpenApiParameter.QUERY, required=False),
            OpenApiParameter(
                "on_conflict",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=False,
                enum=["error", "rename"],
            ),
        ],
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            201: OpenApiTypes.OBJECT,
            **error_responses(400, 409, *AUTH_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        result = transfer.campaigns_import(
            document=request.data,
            actor=actor_for(request.user),
            dry_run=dry_run,
            on_conflict=request.query_params.get("on_conflict", "error"),
        )
        return Response(result.as_dict(), status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)
