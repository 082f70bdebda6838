from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "toxsite moderation"
admin.site.site_title = "toxsite"
admin.site.index_title = "Moderation"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("classifier.api.urls")),
    path("", include("classifier.urls")),
]
