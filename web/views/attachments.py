"""Serving a stored attachment: only to a signed-in agent who may see its case, and never as
something the browser runs.

The file goes out with its allow-listed type (cases/package.py), ``nosniff`` so the browser keeps
to that type, a Content-Security-Policy that sandboxes it (no script, no plugin, no form, no
same-origin access even if it were opened as a page) and, for anything but an image, as a
download (Content-Disposition: attachment). Images are inline, so the case page's thumbnails show.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from cases import selectors

# What a served file may do when opened: nothing. (The desk's pages have their own policy.)
ATTACHMENT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@require_safe
@login_required
def attachment_file(request: HttpRequest, case_id: int, attachment_id: int) -> FileResponse:
    case = selectors.case_for_page(request.user, case_id)  # 404 unless the agent may see it
    attachment = selectors.case_attachment(case, attachment_id)
    content_type, inline = attachment.content_type, attachment.is_image
    if content_type not in settings.HANDOFF_ATTACHMENT_TYPES:
        # Taken off the allow-list since it was stored: a plain download of bytes.
        content_type, inline = "application/octet-stream", False
    try:
        opened = attachment.file.open("rb")
    except FileNotFoundError:  # removed from the storage by hand: gone, not a 500
        raise Http404("The file is no longer stored") from None
    response = FileResponse(
        opened,
        content_type=content_type,
        as_attachment=not inline,
        filename=attachment.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # The agent's browser may keep it; no shared cache may.
    response["Cache-Control"] = "private, max-age=3600"
    return response
