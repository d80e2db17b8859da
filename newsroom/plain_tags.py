"""The ``upstack`` template library for the plain profile: ``{% fragment %}`` renders its contents
every time, caching nothing, so the plain benchmark peer serves the same HTML with upstack off."""

from django import template

register = template.Library()


class PlainFragmentNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        return self.nodelist.render(context)


@register.tag("fragment")
def do_fragment(parser, token):
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return PlainFragmentNode(nodelist)


class PlainEsiNode(template.Node):
    def __init__(self, name, params):
        self.name, self.params = name, params

    def render(self, context):
        from upstack.edge import esi

        params = {key: value.resolve(context) for key, value in self.params.items()}
        with context.push(**{key: value for key, value in params.items() if key not in context}):
            return esi.render_inline(self.name.resolve(context), context)


@register.tag("esi")
def do_esi(parser, token):
    """Always inline in plain: the fragment's template with the page's context."""
    bits = token.split_contents()
    params = {key: parser.compile_filter(value) for key, _, value in (b.partition("=") for b in bits[2:])}
    return PlainEsiNode(parser.compile_filter(bits[1]), params)


@register.simple_tag
def esi_reader():
    """Nothing in plain: every part is rendered inline."""
    return ""


@register.simple_tag
def thumbnail(image, size="medium", fmt="jpeg"):
    """No thumbnails in plain: the original image."""
    return image.url if image else ""
