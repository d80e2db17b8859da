"""A test app unlike the newsroom: multi-table inheritance, a proxy, a self-referencing tree
(a CMS's pages and menus). Used by tests/upstack/edge/test_precision.py."""
