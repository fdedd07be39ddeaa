from .receive_option import urlpatterns as receive_option_urls
from .tokens import urlpatterns as token_urls
from .vapid import urlpatterns as vapid_urls

urlpatterns = [*token_urls, *receive_option_urls, *vapid_urls]
