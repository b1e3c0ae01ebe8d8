from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    default_auto_field = "django.db.models.BigAutoField"
