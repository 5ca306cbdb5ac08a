from campaigns.models import Campaign
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory


def test_factories_build_valid_rows_in_the_brand_schema(brand_a):
    rule = ItemRuleFactory(campaign=CampaignFactory(status=Campaign.Status.ACTIVE))
    rule.full_clean()
    rule.campaign.full_clean()
    assert rule.campaign.partner.secret.startswith("whsec_")
    assert Campaign.objects.filter(status="active").count() == 1
