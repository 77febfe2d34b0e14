"""Which part of the top navigation the page belongs to (a context processor): the set-up pages of
several apps share one "Set-up" menu, so the app's name alone does not say it."""

SETUP_ITEMS = {
    # (app, url name or its prefix) → the Set-up menu's item
    ("taxonomy", ""): "taxonomy",
    ("pipelines", ""): "pipelines",
    ("followups", "setup"): "nurture",
    ("surveys", "setup"): "surveys",
    ("surveys", "wording"): "surveys",
    ("insights", "rates"): "rates",
    ("insights", "settings"): "figures",
    ("crm", ""): "integrations",
    ("outbox", ""): "outbox",
    ("signin", "settings"): "signin",
}
TOP = {"deals", "followups", "insights", "reviews", "alerts", "people"}


def nav(request) -> dict:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {}
    app, name = match.app_name, match.url_name or ""
    user = getattr(request, "user", None)
    if app == "taxonomy" and not (user and getattr(user, "is_revops_admin", False)):
        return {"nav_section": "taxonomy", "nav_item": ""}  # the reps' and managers' reason guide
    for (item_app, prefix), item in SETUP_ITEMS.items():
        if app == item_app and name.startswith(prefix):
            return {"nav_section": "setup", "nav_item": item}
    return {"nav_section": app if app in TOP else "", "nav_item": ""}
