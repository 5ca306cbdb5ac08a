import base64
import secrets

import factory

from partners.models import Partner


def make_whsec() -> str:
    """A Standard Webhooks secret: "whsec_" + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    submission_url = "http://127.0.0.1:9/submissions"
    auth_url = "http://127.0.0.1:9/participate"
    secret = factory.LazyFunction(make_whsec)
    timeout_seconds = 5
    max_attempts = 8
    is_active = True
