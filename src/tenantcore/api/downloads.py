"""Downloads (record exports) as HTTP responses, for the API and the app alike."""

from __future__ import annotations

from starlette.responses import Response

from tenantcore.domains.service import Export


def download(export: Export) -> Response:
    return Response(
        export.body,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
