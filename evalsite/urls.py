from django.contrib import admin
from django.urls import include, path

# The API first: Django tries patterns in order, and review's next + vote are the hot path.
urlpatterns = [
    path("api/", include("arena.api.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("arena.urls")),
]
