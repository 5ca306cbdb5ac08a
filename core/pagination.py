from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class PagePagination(PageNumberPagination):
    """`?page=N&page_size=M`; the page size is capped so one request cannot dump a table."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
