"""One base for every service's refusal, one translation into API answers, and no import cycle
between the apps' service modules."""

import ast
from pathlib import Path

from closedlost.api_errors import exception_handler
from closedlost.errors import Conflict, ServiceError
from deals.services import DealAlreadyClosed, DealError, DealNotClosed
from followups.services import FollowUpError
from reasons.services import TaxonomyError

ROOT = Path(__file__).resolve().parent.parent


class View:
    error_fields = ("reason", "note")


def answer(exc, view=None):
    response = exception_handler(exc, {"view": view})
    return response.status_code, response.data


def test_every_service_refusal_is_a_service_error():
    for error in (DealError, DealAlreadyClosed, DealNotClosed, FollowUpError, TaxonomyError):
        assert issubclass(error, ServiceError)
    assert issubclass(DealAlreadyClosed, Conflict) and issubclass(DealNotClosed, Conflict)


def test_a_refusal_is_a_409_for_the_state_and_a_400_naming_the_field_otherwise():
    assert answer(DealAlreadyClosed("Already closed by Bob.")) == (409, {"detail": "Already closed by Bob."})
    assert answer(DealError("Choose a reason.", field="reason"), View()) == (
        400,
        {"reason": ["Choose a reason."]},
    )
    # A field the request does not have, or none: the whole request.
    assert answer(DealError("No.", field="stage"), View()) == (400, {"non_field_errors": ["No."]})
    assert answer(DealError("No.")) == (400, {"non_field_errors": ["No."]})
    # Follow-ups and the taxonomy: naming no field, the refusal is about the object's state.
    assert answer(FollowUpError("Being sent.")) == (409, {"detail": "Being sent."})
    assert answer(TaxonomyError("In use.")) == (409, {"detail": "In use."})
    assert answer(TaxonomyError("Bad code.", field="code")) == (400, {"code": ["Bad code."]})


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_service_module_imports_one_that_imports_it_back():
    services = ["deals.services", "followups.services", "reasons.services", "crm.services"]
    imports = {name: _imported_modules(ROOT / (name.replace(".", "/") + ".py")) for name in services}
    for name in services:
        for other in services:
            if other != name and other in imports[name]:
                assert name not in imports[other], f"{name} and {other} import each other"


def test_reasons_does_not_import_deals():
    for path in (ROOT / "reasons").glob("*.py"):
        assert not any(m.split(".")[0] == "deals" for m in _imported_modules(path)), path.name
