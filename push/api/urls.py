from .tokens import urlpatterns as token_urls
from .vapid import urlpatterns as vapid_urls

urlpatterns = [*token_urls, *vapid_urls]
