"""The newsroom's background tasks (Celery, through upstack.tasks)."""

from celery import shared_task
from django.conf import settings
from django.core.cache import caches
from django.core.mail import send_mass_mail

from upstack.tasks.app import RETRY

from .models import Comment

# One reply mail per reader and article in this many seconds, however many comments arrive: a
# commenter cannot turn the site into a mail cannon (issue 14). A reader who was told "someone
# replied" comes back and sees every reply.
NOTIFY_INTERVAL = 600


def _first_in_interval(email: str, article_id: int) -> bool:
    """True once per reader, article and interval (an atomic cache add)."""
    return caches["default"].add(_key(email, article_id), 1, NOTIFY_INTERVAL)


def _key(email: str, article_id: int) -> str:
    return f"newsroom:notified:{article_id}:{email}"


@shared_task(name="newsroom.notify_thread", ignore_result=True, acks_late=True, **RETRY)
def notify_thread(comment_id: int) -> int:
    """Tell the readers who commented on an article before that someone replied. Idempotent enough
    for redelivery: it is keyed on the comment, and mail backends are the only side effect."""
    comment = Comment.objects.select_related("article", "user").filter(pk=comment_id, is_public=True).first()
    if comment is None:
        return 0
    earlier = (Comment.objects.filter(article=comment.article, is_public=True, created_at__lt=comment.created_at)
               .exclude(user=comment.user).exclude(user__email="").values_list("user__email", flat=True).distinct())
    who = comment.user.get_full_name() or comment.user.username
    url = settings.SITE_URL.rstrip("/") + comment.article.get_absolute_url() + f"#c{comment.pk}"
    due = [email for email in earlier if _first_in_interval(email, comment.article_id)]
    messages = [(f"New reply on “{comment.article.title}”", f"{who} replied:\n\n{comment.body}\n\n{url}\n",
                 settings.DEFAULT_FROM_EMAIL, [email]) for email in due]
    try:
        return send_mass_mail(messages, fail_silently=False) if messages else 0
    except Exception:
        # Not sent: the retry must not find these readers already "notified".
        caches["default"].delete_many([_key(email, comment.article_id) for email in due])
        raise
