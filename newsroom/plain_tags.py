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
