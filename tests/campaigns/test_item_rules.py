"""Item rules and the CSV import (SPEC §2): validation, uniqueness, version bumps, all-or-nothing."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.models import Campaign, ItemRule
from tests.campaigns.factories import ItemRuleFactory


def rules_url(campaign) -> str:
    return f"/api/v1/campaigns/{campaign.pk}/item-rules/"


def version_of(campaign) -> int:
    return Campaign.objects.get(pk=campaign.pk).version


def test_add_list_delete_bump_the_version(crm_client, make_campaign):
    campaign = make_campaign()
    response = crm_client.post(
        rules_url(campaign),
        {
            "kind": "whitelist",
            "match": "sku",
            "value": "SKU-1",
            "multiplier": "1.5",
            "bonus_per_unit": "0.25",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    rule = response.json()
    assert {k: rule[k] for k in ("kind", "match", "value", "multiplier", "bonus_per_unit")} == {
        "kind": "whitelist",
        "match": "sku",
        "value": "SKU-1",
        "multiplier": "1.5",
        "bonus_per_unit": "0.25",
    }
    assert version_of(campaign) == 2

    defaults = crm_client.post(
        rules_url(campaign), {"kind": "blacklist", "match": "category", "value": "tobacco"}, format="json"
    ).json()
    assert (defaults["multiplier"], defaults["bonus_per_unit"]) == ("1", "0")
    assert version_of(campaign) == 3

    listed = crm_client.get(rules_url(campaign)).json()
    assert listed["count"] == 2
    assert [r["value"] for r in listed["results"]] == ["SKU-1", "tobacco"]

    assert crm_client.delete(f"{rules_url(campaign)}{rule['id']}/").status_code == 204
    assert version_of(campaign) == 4
    assert crm_client.delete(f"{rules_url(campaign)}{rule['id']}/").status_code == 404
    assert version_of(campaign) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "greylist", "match": "sku", "value": "A"}, "kind"),
        ({"kind": "blacklist", "match": "brand", "value": "A"}, "match"),
        ({"kind": "blacklist", "match": "sku", "value": ""}, "value"),
        ({"kind": "blacklist", "match": "sku"}, "value"),
        ({"kind": "whitelist", "match": "sku", "value": "A", "multiplier": "0.99"}, "multiplier"),
        ({"kind": "whitelist", "match": "sku", "value": "A", "multiplier": "x"}, "multiplier"),
        ({"kind": "whitelist", "match": "sku", "value": "A", "bonus_per_unit": "-0.01"}, "bonus_per_unit"),
        ({"kind": "whitelist", "match": "sku", "value": "A", "bonus_per_unit": "1.00001"}, "bonus_per_unit"),
    ],
)
def test_invalid_rule_is_a_400_naming_the_field(crm_client, make_campaign, body, field):
    campaign = make_campaign()
    response = crm_client.post(rules_url(campaign), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert version_of(campaign) == 1


def test_duplicate_rule_is_a_400_on_value(crm_client, make_campaign):
    campaign = make_campaign()
    body = {"kind": "blacklist", "match": "sku", "value": "A"}
    assert crm_client.post(rules_url(campaign), body, format="json").status_code == 201
    again = crm_client.post(rules_url(campaign), body, format="json")
    assert again.status_code == 400
    assert "value" in again.json()["error"]["fields"]
    # The same value as another kind or match is a different rule.
    assert (
        crm_client.post(rules_url(campaign), {**body, "kind": "whitelist"}, format="json").status_code == 201
    )
    assert (
        crm_client.post(rules_url(campaign), {**body, "match": "category"}, format="json").status_code == 201
    )


def test_rules_of_another_campaign_are_404(crm_client, make_campaign):
    one, other = make_campaign(), make_campaign()
    rule = ItemRuleFactory(campaign=other)
    assert crm_client.delete(f"{rules_url(one)}{rule.pk}/").status_code == 404
    assert ItemRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize("status", ["completed", "cancelled", "archived"])
def test_rules_of_closed_campaigns_cannot_change(crm_client, make_campaign, status):
    campaign = make_campaign(status=status)
    rule = ItemRuleFactory(campaign=campaign)
    body = {"kind": "blacklist", "match": "sku", "value": "new"}
    assert crm_client.post(rules_url(campaign), body, format="json").status_code == 409
    assert crm_client.delete(f"{rules_url(campaign)}{rule.pk}/").status_code == 409
    csv_response = crm_client.post(
        f"{rules_url(campaign)}import/", data=b"blacklist,sku,X\n", content_type="text/csv"
    )
    assert csv_response.status_code == 409


def test_rules_of_an_active_campaign_can_change(crm_client, make_campaign):
    campaign = make_campaign(status="active")
    body = {"kind": "blacklist", "match": "sku", "value": "new"}
    assert crm_client.post(rules_url(campaign), body, format="json").status_code == 201
    assert version_of(campaign) == 2


# ----------------------------------------------------------------------------- CSV import


def import_csv(client, campaign, text: str, *, multipart: bool = False):
    url = f"{rules_url(campaign)}import/"
    if multipart:
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("rules.csv", text.encode(), content_type="text/csv")
        return client.post(url, {"file": upload}, format="multipart")
    return client.post(url, data=text.encode(), content_type="text/csv")


GOOD_CSV = (
    "kind,match,value,multiplier,bonus_per_unit\n"
    "whitelist,sku,SKU-1,2,0.50\n"
    "blacklist,category,tobacco,,\n"
    "whitelist,category,toys,1.25,0\n"
)


@pytest.mark.parametrize("multipart", [False, True])
def test_import_creates_every_row_and_bumps_the_version_once(crm_client, make_campaign, multipart):
    campaign = make_campaign()
    response = import_csv(crm_client, campaign, GOOD_CSV, multipart=multipart)
    assert response.status_code == 201, response.json()
    assert response.json() == {"imported": 3, "campaign_version": 2}
    rules = list(
        campaign.item_rules.order_by("id").values_list(
            "kind", "match", "value", "multiplier", "bonus_per_unit"
        )
    )
    assert [r[:3] for r in rules] == [
        ("whitelist", "sku", "SKU-1"),
        ("blacklist", "category", "tobacco"),
        ("whitelist", "category", "toys"),
    ]
    assert str(rules[0][3].normalize()) == "2" and str(rules[0][4].normalize()) == "0.5"
    assert str(rules[1][3].normalize()) == "1" and rules[1][4] == 0


def test_import_without_header_and_with_reordered_header(crm_client, make_campaign):
    campaign = make_campaign()
    assert import_csv(crm_client, campaign, "blacklist,sku,A\nwhitelist,sku,B,3\n").json()["imported"] == 2
    reordered = "value,kind,match\nC,blacklist,sku\n"
    assert import_csv(crm_client, campaign, reordered).json()["imported"] == 1
    assert set(campaign.item_rules.values_list("value", flat=True)) == {"A", "B", "C"}


def test_import_reports_every_bad_row_by_line_and_imports_nothing(crm_client, make_campaign):
    campaign = make_campaign()
    text = (
        "kind,match,value,multiplier,bonus_per_unit\n"  # line 1
        "whitelist,sku,SKU-1,2,0\n"  # 2 ok
        "greylist,sku,SKU-2,1,0\n"  # 3 bad kind
        "whitelist,sku,SKU-3,0.5,0\n"  # 4 multiplier < 1
        "\n"  # 5 blank: skipped
        "whitelist,sku,SKU-4,1,-2\n"  # 6 negative bonus
        "whitelist,sku,SKU-1,3,0\n"  # 7 duplicate of line 2
        "blacklist,brand,,x,y,z\n"  # 8 too many columns
        "blacklist,sku,,,\n"  # 9 empty value
    )
    response = import_csv(crm_client, campaign, text)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_csv"
    rows = error["fields"]["rows"]
    assert set(rows) == {"3", "4", "6", "7", "8", "9"}
    assert "kind" in rows["3"]
    assert "multiplier" in rows["4"]
    assert "bonus_per_unit" in rows["6"]
    assert "line 2" in rows["7"]["value"][0]
    assert "row" in rows["8"]
    assert "value" in rows["9"]
    assert not campaign.item_rules.exists()
    assert version_of(campaign) == 1


def test_import_rejects_rules_the_campaign_already_has(crm_client, make_campaign):
    campaign = make_campaign()
    ItemRuleFactory(campaign=campaign, kind="blacklist", match="sku", value="OLD")
    response = import_csv(crm_client, campaign, "blacklist,sku,NEW\nblacklist,sku,OLD\n")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]["rows"]) == {"2"}
    assert list(campaign.item_rules.values_list("value", flat=True)) == ["OLD"]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"", "file"),
        (b"\n\n", "file"),
        (b"\xff\xfe\x00bad", "file"),
        (b"kind,value\nblacklist,A\n", "header"),
    ],
)
def test_import_rejects_unusable_files(crm_client, make_campaign, content, field):
    campaign = make_campaign()
    response = crm_client.post(f"{rules_url(campaign)}import/", data=content, content_type="text/csv")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_import_without_a_file_is_a_400(crm_client, make_campaign):
    campaign = make_campaign()
    response = crm_client.post(f"{rules_url(campaign)}import/", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_import_accepts_a_utf8_bom_and_crlf(crm_client, make_campaign):
    campaign = make_campaign()
    text = "\ufeffkind,match,value\r\nblacklist,category,Café\r\n"
    response = crm_client.post(f"{rules_url(campaign)}import/", data=text.encode(), content_type="text/csv")
    assert response.status_code == 201, response.json()
    assert campaign.item_rules.get().value == "Café"


def test_import_of_10000_rows_through_the_service(brand_a):
    from tests.campaigns.factories import CampaignFactory

    campaign = CampaignFactory()
    text = "\n".join(f"whitelist,sku,SKU-{n:05d},1.5,0.10" for n in range(10_000))
    result = services.item_rules_import_csv(campaign_id=campaign.pk, actor="system", content=text)
    assert result.imported == 10_000
    assert campaign.item_rules.count() == 10_000
    assert result.campaign.version == 2


def test_patch_changes_a_rule_and_bumps_the_version(crm_client, make_campaign):
    campaign = make_campaign()
    rule = ItemRuleFactory(campaign=campaign, kind="whitelist", value="A")
    ItemRuleFactory(campaign=campaign, kind="whitelist", value="B")
    url = f"{rules_url(campaign)}{rule.pk}/"
    response = crm_client.patch(url, {"multiplier": "3", "bonus_per_unit": "0.2"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["multiplier"], response.json()["bonus_per_unit"]) == ("3", "0.2")
    assert version_of(campaign) == 2
    assert crm_client.patch(url, {"multiplier": "3"}, format="json").status_code == 200
    assert version_of(campaign) == 2  # nothing changed
    clash = crm_client.patch(url, {"value": "B"}, format="json")
    assert clash.status_code == 400
    assert "value" in clash.json()["error"]["fields"]
    assert crm_client.patch(url, {"multiplier": "0.5"}, format="json").status_code == 400
    assert crm_client.get(url).json()["multiplier"] == "3"
