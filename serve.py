"""The app served with the class session's light route: ``streamlit run serve.py`` (run.sh and classroom.sh do).

``app.py`` is the Streamlit script; this file wraps it as an ASGI app (``streamlit.starlette.App``) with one route
of ours, ``GET /class/counters?code=XXXXX`` → ``{"version": v, "stage": s}``: the two counters of a class
(services/class_store.py), answered by services/class_counters.py. A joined student's page long-polls it from the
browser (``&watch=stage&seen=N``: the answer comes when the class moves, or after 10 s) and asks Streamlit for a
rerun only when ``stage`` changed, so an idle class costs the server one request per student per 10 s and one small
SQLite/Redis read per class per 0.1 s instead of one script rerun (bench/RESULTS.md, "class session").
``streamlit run app.py`` still works: the page then falls back to a slower rerun-based poll.

And the Real model's, ``GET /lm/views?id=…&text=…`` (services/lm_views.py): one key's views as JSON, so a key on
that page is one plain request, not a Streamlit rerun; without it the page reruns its fragment per key.
"""

import pandas  # noqa: F401  (whole before the first session: app.py says why)
from starlette.routing import Route
from streamlit.starlette import App

from services import class_counters, lm_views
from services.class_counters import PATH as COUNTERS_PATH
from services.class_counters import counters

class_counters.SERVED = True  # the pages' pollers can count on the route (ui/class_session.py)
lm_views.SERVED = True  # the Real model's component owns its box and asks the route per key (ui/real_model.py)
app = App(
    "app.py",
    routes=[
        Route(COUNTERS_PATH, counters, methods=["GET"]),
        Route(lm_views.PATH, lm_views.views, methods=["GET"]),
    ],
)
