from django.urls import path

from experiments import api

urlpatterns = [
    path(
        "campaigns/<int:campaign_id>/experiments/",
        api.CampaignExperimentsApi.as_view(),
        name="campaign-experiments",
    ),
    path(
        "experiments/<int:experiment_id>/assign/", api.ExperimentAssignApi.as_view(), name="experiment-assign"
    ),
    path(
        "experiments/<int:experiment_id>/results/",
        api.ExperimentResultsApi.as_view(),
        name="experiment-results",
    ),
    path(
        "experiments/<int:experiment_id>/conclude/",
        api.ExperimentConcludeApi.as_view(),
        name="experiment-conclude",
    ),
]
