"""The app served with the class session's light route: ``streamlit run serve.py`` (run.sh and classroom.sh do).

``app.py`` is the Streamlit script; this file wraps it as an ASGI app (``streamlit.starlette.App``) with one route
of ours, ``GET /class/counters?code=XXXXX`` → ``{"version": v, "stage": s}``: the two counters of a class
(services/class_store.py). A joined student's page polls it from the browser every second and asks Streamlit for a
rerun only when ``stage`` changed, so an idle class costs the server one small SQLite/Redis read per student per
second instead of one script rerun (bench/RESULTS.md, "class session"). ``streamlit run app.py`` still works: the
page then falls back to a slower rerun-based poll.
"""
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.starlette import App

from services.class_store import ClassError, StoreUnavailable, clean_code, shared_store

COUNTERS_PATH = "/class/counters"


def counters(request: Request) -> JSONResponse:
    """A plain function: Starlette runs it in its thread pool, so a slow store never blocks the event loop."""
    code = clean_code(request.query_params.get("code"))
    headers = {"Cache-Control": "no-store"}
    if not code:
        return JSONResponse({"error": "bad_code"}, status_code=400, headers=headers)
    try:
        version, stage = shared_store().counters(code)
    except ClassError as e:
        return JSONResponse({"error": e.reason}, status_code=404, headers=headers)
    except StoreUnavailable as e:
        return JSONResponse({"error": e.reason}, status_code=503, headers=headers)
    return JSONResponse({"version": version, "stage": stage}, headers=headers)


app = App("app.py", routes=[Route(COUNTERS_PATH, counters, methods=["GET"])])
