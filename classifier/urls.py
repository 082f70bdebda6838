from django.urls import path

from . import views

app_name = "classifier"
urlpatterns = [
    path("", views.check_message, name="check"),
]
