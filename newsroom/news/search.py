"""The full-text document of an article on PostgreSQL.

One expression, shared by the query (``queries.search``) and the GIN index created by migration 0002,
so PostgreSQL can use the index: both must compile to the same SQL.
"""

from django.contrib.postgres.search import SearchVector

VECTOR = SearchVector("title", "standfirst", config="english")
INDEX_NAME = "article_search"
