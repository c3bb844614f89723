from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("otp.urls")),
    path("compat/", include("compat.urls")),
    path("gateways/", include("gateways.urls")),
    path("", include("console.urls")),
]

if settings.OTP_BENCH_CEILING:  # the benchmark's bare view (bench/), off by default
    from otp.views import bench_ceiling

    urlpatterns.insert(0, path("bench/ceiling", bench_ceiling, name="bench-ceiling"))
    urlpatterns.insert(0, path("bench/", include("bench.urls")))

handler404 = "otp.views.not_found"
handler500 = "otp.views.server_error"
