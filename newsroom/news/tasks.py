"""The newsroom's background tasks (Celery, through upstack.tasks)."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail

from upstack.tasks.app import RETRY

from .models import Comment


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
    messages = [(f"New reply on “{comment.article.title}”", f"{who} replied:\n\n{comment.body}\n\n{url}\n",
                 settings.DEFAULT_FROM_EMAIL, [email]) for email in earlier]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
