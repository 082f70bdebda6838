from django.urls import path

from . import views, views_dashboard

app_name = "classifier"
urlpatterns = [
    path("", views.check_message, name="check"),
    path("feedback/<int:pk>/", views.report_feedback, name="feedback"),
    path("dashboard/", views_dashboard.dashboard_page, name="dashboard"),
    path("dashboard/data/activity.json", views_dashboard.activity_data, name="dashboard-activity"),
    path("dashboard/data/queue.json", views_dashboard.queue_data, name="dashboard-queue"),
    path("dashboard/data/moderators.json", views_dashboard.moderators_data, name="dashboard-moderators"),
    path("dashboard/data/models.json", views_dashboard.models_data, name="dashboard-models"),
    path("dashboard/data/scores.json", views_dashboard.scores_data, name="dashboard-scores"),
]
