"""Class-based views throughout; the JSON API is a plain View."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import JsonResponse
from django.views import View
from django.views.generic import DetailView, ListView, UpdateView

from .models import AvailableItem, Book, Film, Item, Review


class ItemList(ListView):
    model = AvailableItem
    template_name = "catalog/list.html"


class BookList(ListView):
    model = Book
    template_name = "catalog/list.html"


class ItemDetail(DetailView):
    model = Item
    template_name = "catalog/detail.html"

    def get_context_data(self, **kwargs):
        item = self.object
        child = Book.objects.filter(pk=item.pk).first() or Film.objects.filter(pk=item.pk).first()
        return super().get_context_data(child=child, reviews=list(item.reviews.all()), **kwargs)


class ItemsApi(View):
    def get(self, request):
        rows = [{"kind": kind, "title": item.title, "slug": item.slug, "available": item.available}
                for kind, model in (("book", Book), ("film", Film)) for item in model.objects.order_by("slug")]
        return JsonResponse({"items": rows})


class MyShelf(LoginRequiredMixin, ListView):
    template_name = "catalog/my_shelf.html"

    def get_queryset(self):
        return Review.objects.filter(user=self.request.user).select_related("item")


class CoverUpload(LoginRequiredMixin, UpdateView):
    model = Item
    fields = ["cover"]
    template_name = "catalog/cover.html"
