"""Reports a group owner can open, keep and forward: analytics turned into something to read.

`html.render_html` makes one self-contained page (charts included) so that a report works
offline and survives being mailed as a single attachment.
"""
