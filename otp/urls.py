app_name = "otp"
urlpatterns: list = []
