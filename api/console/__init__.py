"""The support console: server-rendered pages to find an order, read its story and act on it.

`words` (what things are called, times in words), `web` (templates, links, sign-in, banners), `views`
(what the order page shows), `forms` (a form becomes a proposal), `routes` (the pages themselves).
"""

from api.console.routes import router

__all__ = ["router"]
