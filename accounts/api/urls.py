# /api/v1/me/ (my profile) is served by relationships/api/profiles.py: a change of it
# reaches the user's friends, whom accounts does not know.
urlpatterns: list = []
