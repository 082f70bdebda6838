"""The JSON API (django-ninja): schemas, errors, authentication, rate limits and endpoints."""
