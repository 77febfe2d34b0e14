"""The feedback figures as CSV rows: what a spreadsheet opens (shares as numbers, text as text)."""

from datetime import datetime

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """One value for a spreadsheet; a buyer's text that looks like a formula stays text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _rows(name: str, figure) -> tuple[list[str], list[list]]:
    if name == "response-rate":
        return ["Sent", "Answered", "Response rate"], [[figure["sent"], figure["answered"], figure["rate"]]]
    if name == "agreement-matrix":
        header = ["Rep's category", "Buyer's category", "Answers", "Share"]
        return header, [
            [row["rep_category"], c["buyer_category"], c["count"], c["share"]]
            for row in figure["rows"]
            for c in row["cells"]
        ]
    if name == "agreement-by-rep":
        return ["Rep", "Answers", "Same category", "Agreement"], [
            [r["rep"], r["answers"], r["agreed"], r["agreement"]] for r in figure
        ]
    if name == "agreement-by-reason":
        return ["Rep's reason", "Answers", "Same category", "Agreement", "Same reason"], [
            [r["reason"], r["answers"], r["agreed"], r["agreement"], r["same_reason"]] for r in figure
        ]
    if name == "reason-gaps":
        return ["Reason", "Buyers gave it", "Reps gave it", "Difference"], [
            [r["reason"], r["buyers"], r["reps"], r["gap"]] for r in figure
        ]
    header = [
        "Answered (UTC)",
        "Deal",
        "Buyer's reason",
        "Rep's reason",
        "Something else",
        "Comment",
        "Rating",
    ]
    return header, [
        [
            q["answered_at"],
            q["deal"],
            q["buyer_reason"],
            q["rep_reason"],
            q["something_else"],
            q["comment"],
            q["process_rating"],
        ]
        for q in figure
    ]


def figure_table(name: str, figure) -> tuple[list[str], list[list[str]]]:
    """(header, rows of text cells) for one figure of surveys.selectors.FIGURES."""
    header, rows = _rows(name, figure)
    return header, [[cell(value) for value in row] for row in rows]
