"""What an admin-written e-mail to a buyer may say: the allowed placeholders, the check that refuses
anything else when a template is saved, and the render that sees only allowed values.

A buyer-facing template (a nurture step e-mailed to a contact, the survey e-mail) renders from a
context built only of plain, allowed values: whatever else it names renders empty, because it is
not there. Internal templates (the rep's tasks, reminders and digests) keep their full context.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import FilterExpression, TextNode, Variable, VariableNode
from django.template.defaulttags import IfNode, TemplateLiteral

# Every placeholder a buyer's e-mail may name, in the order the error message lists them.
ALLOWED_PLACEHOLDERS = (
    "contact.name",
    "contact.first_name",
    "account.name",
    "owner.name",
    "owner.first_name",
    "owner.email",
    "org.name",
    "survey_url",
    "opt_out_url",
)
ALLOWED_LIST = ", ".join(f"{{{{ {name} }}}}" for name in ALLOWED_PLACEHOLDERS)


@dataclass(frozen=True)
class TemplateCheck:
    forbidden: tuple[str, ...] = ()  # placeholders outside the allowed list (render empty)
    tags: tuple[str, ...] = ()  # tags other than {% if %} (refused; never sent)
    syntax: str = ""  # the template does not compile

    @property
    def ok(self) -> bool:
        return not (self.forbidden or self.tags or self.syntax)

    @property
    def sendable(self) -> bool:
        """A stored template may still go out with its forbidden placeholders empty; never with a
        tag that could reach past the context (include, load, debug …) or a broken one."""
        return not (self.tags or self.syntax)

    def message(self) -> str:
        if self.syntax:
            return f"A placeholder does not work: {self.syntax}. Allowed placeholders: {ALLOWED_LIST}."
        named = [f"{{{{ {name} }}}}" for name in self.forbidden] + [f"{{% {tag} %}}" for tag in self.tags]
        what = ", ".join(named)
        return f"An e-mail to a buyer cannot use {what}. Allowed placeholders: {ALLOWED_LIST}."


def _variables(expression) -> list[str]:
    """The dotted names an {% if %} condition or a {{ }} expression reads (filter arguments too)."""
    if isinstance(expression, FilterExpression):
        names = _variables(expression.var)
        for _func, args in expression.filters:
            names += [name for lookup, arg in args if lookup for name in _variables(arg)]
        return names
    if isinstance(expression, Variable):
        return [".".join(expression.lookups)] if expression.lookups else []
    if isinstance(expression, TemplateLiteral):  # an {% if %} operand
        return _variables(expression.value)
    names = []
    for part in ("first", "second"):  # an {% if %} operator
        child = getattr(expression, part, None)
        if child is not None:
            names += _variables(child)
    return names


def _walk(nodelist, names: list[str], tags: list[str]) -> None:
    for node in nodelist:
        if isinstance(node, TextNode):
            continue
        if isinstance(node, VariableNode):
            names += _variables(node.filter_expression)
        elif isinstance(node, IfNode):
            for condition, branch in node.conditions_nodelists:
                if condition is not None:
                    names += _variables(condition)
                _walk(branch, names, tags)
        else:
            token = getattr(node, "token", None)
            tags.append(token.contents.split()[0] if token is not None else type(node).__name__)


def buyer_template_check(text: str) -> TemplateCheck:
    """Which placeholders and tags outside the allowed ones `text` uses."""
    try:
        template = Engine.get_default().from_string(text)
    except TemplateSyntaxError as error:
        return TemplateCheck(syntax=str(error))
    names: list[str] = []
    tags: list[str] = []
    _walk(template.nodelist, names, tags)
    forbidden = tuple(dict.fromkeys(n for n in names if n not in ALLOWED_PLACEHOLDERS))
    return TemplateCheck(forbidden=forbidden, tags=tuple(dict.fromkeys(tags)))


def validate_buyer_template(text: str) -> None:
    """Refuse a buyer-facing template that names anything but the allowed placeholders."""
    check = buyer_template_check(text)
    if not check.ok:
        raise ValidationError(check.message(), code="buyer_placeholder")


def uses_placeholder(text: str, name: str) -> bool:
    """Whether `text` names placeholder `name` (a broken template: whether it mentions it)."""
    try:
        template = Engine.get_default().from_string(text)
    except TemplateSyntaxError:
        return name in text
    names: list[str] = []
    _walk(template.nodelist, names, [])
    return name in names


def first_name(name: str) -> str:
    return (name.split() or [""])[0]


class _Values(dict):
    """A group of allowed values: `{{ contact.first_name }}` reads one; `{{ contact }}` alone is
    not a placeholder and renders empty."""

    def __str__(self) -> str:
        return ""


def buyer_context(
    *, contact_name: str, account_name: str, owner=None, survey_url: str = "", opt_out_url: str = ""
) -> dict:
    """The only values a buyer-facing template sees (plain strings, no model to walk)."""
    return {
        "contact": _Values(name=contact_name, first_name=first_name(contact_name)),
        "account": _Values(name=account_name),
        "owner": _Values(
            name=owner.display_name if owner else "",
            first_name=(owner.first_name or owner.display_name) if owner else "",
            email=owner.email if owner else "",
        ),
        "org": _Values(name=settings.ORG_NAME),
        "survey_url": survey_url,
        "opt_out_url": opt_out_url,
    }


class NotSendable(Exception):
    """A buyer's e-mail that must not go out as it would render (reported on its row)."""


def render_buyer_template(text: str, context: dict) -> str:
    """`text` rendered from the allowed values only (what else it names is empty)."""
    check = buyer_template_check(text)
    if not check.sendable:
        raise NotSendable(check.message())
    allowed = {
        key: context[key] for key in ("contact", "account", "owner", "org", "survey_url", "opt_out_url")
    }
    return Engine.get_default().from_string(text).render(Context(allowed, autoescape=False))
