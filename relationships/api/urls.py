from .blocklist import urlpatterns as blocklist_urls
from .friends import urlpatterns as friend_urls

urlpatterns = [*friend_urls, *blocklist_urls]
