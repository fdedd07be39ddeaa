"""Searching message text (the operator console's search box).

On PostgreSQL: full-text search over the text a message's elements hold (text, a
custom element's data, description and extension, a file's name, a location's
description, a merged message's title and abstract), through the IMMUTABLE SQL function
`messaging_search_vector(elements)` and the GIN index on it (migration 0014). The
'simple' configuration: words are lower-cased, not stemmed, so any language's words
match as written; each word of the query matches as a prefix ("hel" finds "hello"), all
of them must be there ("report.pdf" finds the file of that name). A run of CJK characters with no space is one word: it is found
by its beginning.

On SQLite (embedded mode) there is no index: a plain "contains" on the stored JSON
(case-insensitive for ASCII letters; other letters as typed, all lower- or all
upper-case), enough for a demo's few thousand messages.
"""

from __future__ import annotations

import json
import re

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet, TextField
from django.db.models.expressions import F, OrderBy, RawSQL
from django.db.models.functions import Cast

MAX_TERM = 200  # characters of a search term looked at
MAX_WORDS = 8
_WORD = re.compile(r"\w+")

# The function the GIN index is built on is defined in messaging/migrations/0014; a
# query must call it the same way to use the index.
INDEX_NAME = "message_text_search_idx"


def query_words(term: str) -> list[str]:
    """The words of a search term: split on spaces, those holding a letter or digit."""
    words = term[:MAX_TERM].replace("\x00", " ").split()
    return [w for w in words if _WORD.search(w)][:MAX_WORDS]


def tsquery_of(words: list[str]) -> str:
    """Each word a quoted lexeme matched as a prefix, all required. Inside quotes the
    word is parsed as the document's text was ('report.pdf' stays one lexeme, 'a-b' is
    a phrase); a quote or backslash cannot end the quoting (they become spaces)."""
    return " & ".join("'" + w.replace("'", " ").replace("\\", " ") + "':*" for w in words)


def text_condition(queryset: QuerySet, term: str) -> tuple[QuerySet, Q | None]:
    """(`queryset`, ready for the condition; a Q true for messages whose text holds
    every word of `term`), or None for a term without a word. The condition can be
    OR-ed with others."""
    words = query_words(term)
    if not words:
        return queryset, None
    if connection.vendor == "postgresql":
        return queryset, Q(RawSQL("messaging_search_vector(messaging_message.elements) "
                                  "@@ to_tsquery('simple'::regconfig, %s)",
                                  [tsquery_of(words)], output_field=BooleanField()))
    # The JSON text may hold non-ASCII characters escaped (\\u00e9): look for both forms.
    # LIKE folds ASCII letters only: look for the word's lower- and upper-case forms too.
    match = Q()
    for word in words:
        cases = (word, word.lower(), word.upper())
        forms = {*cases, *(json.dumps(w)[1:-1] for w in cases)}
        either = Q()
        for form in forms:
            either |= Q(search_text__icontains=form)
        match &= either
    return queryset.alias(search_text=Cast("elements", TextField())), match


def newest_first(field: str = "pk") -> OrderBy:
    """The order of search results: `field` descending, written so that PostgreSQL
    cannot walk that field's index backwards and test each row (it would, for a word
    it thinks common enough, and take seconds when the matches are all old: 6.7 s at
    200k rows, bench/console_search.py); it takes the matches from the GIN index and
    sorts them, a cost that follows the number of matches, not the table's size."""
    return OrderBy(F(field) + 0, descending=True)


SEARCH_MAX = 1000  # matches the message list's search box shows (the newest)


def newest_matches(queryset: QuerySet, term: str, *, limit: int = SEARCH_MAX) -> list[int]:
    """The pks of the newest `limit` messages of `queryset` (one table, no joins)
    whose text matches `term`. A separate query on purpose: joined to the users (as
    the admin's list is), the planner may start from the users and test the messages
    of each, row by row (50 s at 200k rows, bench/console_search.py)."""
    queryset, match = text_condition(queryset, term)
    if match is None:
        return []
    return list(queryset.filter(match).order_by(newest_first())
                .values_list("pk", flat=True)[:limit])


def search_messages(queryset: QuerySet, term: str) -> QuerySet:
    """`queryset` (of Message) narrowed to the messages whose text matches `term`."""
    queryset, match = text_condition(queryset, term)
    return queryset.none() if match is None else queryset.filter(match)
