"""The same archive code against S3: a local S3-compatible server (moto in server mode) through pyarrow.fs."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest
from django.core.management import call_command

from archive.models import ArchiveRun
from archive.services import archive_campaign
from archive.storage import ArchiveStorage
from campaigns.models import Campaign
from tests.archive.helpers import archived_campaign_rows, campaign_database_rows
from tests.archive.test_archive import PURGED, InjectedCrash, _campaign_row_counts, _crash_during_export

moto_server = pytest.importorskip("moto.server")

BUCKET = "cbo-archive-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    filesystem = pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        region="us-east-1",
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        allow_bucket_creation=True,
    )
    filesystem.create_dir(BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_archive_url(s3_endpoint, settings, monkeypatch, request) -> str:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    url = f"s3://{BUCKET}/{request.node.name}?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    settings.ARCHIVE_URL = url
    return url


def test_archive_round_trips_through_s3(brand_a, s3_archive_url, capsys):
    from tests.archive.conftest import make_completed_campaign_with_data

    campaign = make_completed_campaign_with_data(purchases=6).campaign
    before = campaign_database_rows(campaign.pk)

    run = archive_campaign(campaign_id=campaign.pk)

    assert (
        run.location
        == f"s3://{BUCKET}/test_archive_round_trips_through_s3/tenant=brand_a/campaign={campaign.pk}"
    )
    storage = ArchiveStorage(s3_archive_url)
    assert not storage.is_local
    assert archived_campaign_rows(storage, campaign.pk) == before
    assert _campaign_row_counts(campaign.pk) == PURGED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED

    base, _, query = s3_archive_url.partition("?")
    call_command(
        "read_archive", f"{base}/tenant=brand_a/campaign={campaign.pk}/manifest.json?{query}", rows=2
    )
    out = capsys.readouterr().out
    assert f'"campaign_id": {campaign.pk}' in out and "== evaluations:" in out


def test_a_crash_while_writing_to_s3_then_a_rerun(brand_a, s3_archive_url, monkeypatch):
    from tests.archive.conftest import make_completed_campaign_with_data

    campaign = make_completed_campaign_with_data(purchases=6).campaign
    before = campaign_database_rows(campaign.pk)
    with monkeypatch.context() as crash:
        _crash_during_export(crash)
        with pytest.raises(InjectedCrash):
            archive_campaign(campaign_id=campaign.pk)
    assert ArchiveRun.objects.get(campaign=campaign).step == ArchiveRun.Step.EXPORT

    archive_campaign(campaign_id=campaign.pk)

    storage = ArchiveStorage(s3_archive_url)
    assert archived_campaign_rows(storage, campaign.pk) == before
    assert not [path for path in storage.list_files("") if ".tmp-" in path]
