from .blocklist import urlpatterns as blocklist_urls
from .friends import urlpatterns as friend_urls
from .profiles import urlpatterns as profile_urls

urlpatterns = [*friend_urls, *blocklist_urls, *profile_urls]
