"""shelf's per-reader part (upstack.edge.esi): the staff toolbar on cached item pages. The shared page
holds an empty slot; staff get an edit link through the reader include, everyone else nothing."""

from upstack.edge import esi


def staff_toolbar(request, item):
    return {"item_id": int(item)}


esi.register("staff-toolbar", "catalog/_staff_toolbar.html", staff_toolbar)
