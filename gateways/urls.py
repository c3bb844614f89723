app_name = "gateways"
urlpatterns: list = []
