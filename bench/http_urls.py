"""The site's URLs plus one minimal Django view, for bench_http.py.

The minimal view runs through the same middleware as every page and returns two bytes: the floor that the
API's endpoints are measured against.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/minimal", minimal), path("", include("toxsite.urls"))]
