"""The newsroom's pages: thin views over ``queries`` (reads) and ``forms`` (writes).

Per-user parts of a page (the user bar, the comment form, the like button) live in their own
template includes so the edge layer can later serve them as separate fragments.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseNotFound, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from upstack.page.session import needs_session
from upstack.tasks import enqueue_on_commit

from . import data, queries
from .forms import CommentForm
from .models import Article, Author, Like, Section, Tag


def home(request):
    return render(
        request,
        "news/home.html",
        {
            "latest": queries.latest(),
            "sections": queries.section_teasers(),
            "most_read": data.most_read.get(),
        },
    )


def _listing(request, *, title, heading_object, queryset, kind):
    page = queries.paginate(queryset, queries.page_number(request.GET.get("page")), settings.NEWSROOM_PAGE_SIZE)
    if not page.items and page.number > 1:
        raise Http404("No such page.")
    return render(
        request,
        "news/listing.html",
        {"title": title, "object": heading_object, "page": page, "kind": kind},
    )


def section(request, slug):
    obj = get_object_or_404(Section, slug=slug)
    return _listing(request, title=obj.name, heading_object=obj, kind="section",
                    queryset=queries.listing().filter(section=obj))


def tag(request, slug):
    obj = get_object_or_404(Tag, slug=slug)
    return _listing(request, title=f"Tagged “{obj.name}”", heading_object=obj, kind="tag",
                    queryset=queries.listing().filter(tags=obj))


def author(request, slug):
    obj = get_object_or_404(Author, slug=slug)
    return _listing(request, title=obj.name, heading_object=obj, kind="author",
                    queryset=queries.listing().filter(author=obj))


def _article_context(request, article, form=None):
    number = queries.page_number(request.GET.get("page"))
    return {
        "article": article,
        "comments": queries.comments_page(article, number),
        "related": queries.related(article),
        "liked": queries.liked_by(request.user, article),
        "form": form or CommentForm(),
    }


def article(request, slug):
    try:
        obj = queries.article_detail(slug)
    except Article.DoesNotExist:
        raise Http404("No such article.") from None
    return render(request, "news/article.html", _article_context(request, obj))


def _published_or_404(slug):
    return get_object_or_404(Article.objects.published(), slug=slug)


@require_POST
@login_required
def comment_create(request, slug):
    target = _published_or_404(slug)
    form = CommentForm(request.POST)
    if not form.is_valid():
        obj = queries.article_detail(slug)
        return render(request, "news/article.html", _article_context(request, obj, form), status=400)
    form.instance.article = target
    form.instance.user = request.user
    form.save()
    enqueue_on_commit("newsroom.notify_thread", form.instance.pk)  # mail goes out later, never in the request
    return redirect(target.get_absolute_url() + "#comments")


def _wants_json(request):
    return (
        "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


@require_POST
@login_required
def like(request, slug):
    """Like an article once per reader; a repeated like changes nothing."""
    target = _published_or_404(slug)
    Like.objects.get_or_create(user=request.user, article=target)
    if _wants_json(request):
        return JsonResponse({"liked": True, "likes": Like.objects.filter(article=target).count()})
    return redirect(target.get_absolute_url())


@needs_session
def edit(request, slug):
    """The staff edit link's target ("edit/" beside the article, so the reader include holds no id): the
    article's admin page for staff. The edge asks Django with the reader's cookies (needs_session)."""
    if not request.user.is_staff:  # answered (not raised), so the edge sees needs_session's mark
        return HttpResponseNotFound("No such page.")
    return redirect("admin:news_article_change", get_object_or_404(Article, slug=slug).pk)


def search(request):
    q = request.GET.get("q", "").strip()[:200]
    page = queries.paginate(
        queries.search(q), queries.page_number(request.GET.get("page")), settings.NEWSROOM_PAGE_SIZE
    )
    return render(request, "news/search.html", {"q": q, "page": page})


@require_GET
def most_read_json(request):
    return JsonResponse({"articles": data.most_read.get()})
