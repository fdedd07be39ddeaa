from .tokens import urlpatterns as token_urls

urlpatterns = [*token_urls]
