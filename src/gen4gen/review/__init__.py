"""``gen4gen review``: the human curation step as a local web page (see docs/review.md).

:mod:`gen4gen.review.guidance` (a person's round choice and hints for a photo) is light and used by the segment
stage; :mod:`gen4gen.review.server` (the page and its JSON API) is imported only by the command.
"""
