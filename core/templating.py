"""Message templates CRM staff write: the Django template language in a sandbox (SPEC §8).

CRM staff write `{"title": "...", "body": "..."}` per campaign, e.g.
`"{{ award.value }} {{ award.currency }} off at {{ campaign.name }}"`. A
template can reach nothing but the context it is given, and that context
holds only plain strings and dicts built by `notification_context` — never
model instances — so there is no attribute path to the ORM, settings or
files.

The sandbox is a standalone `django.template.Engine`:

* no loaders, no template directories, no `{% load %}`able libraries, and
  none of Django's default builtins: its only library is `SANDBOX_LIBRARY`,
  a whitelist of harmless tags and filters. `include`, `extends`, `block`,
  `load`, `debug`, `ssi`, `csrf_token`, `url`, `static` are not registered, so
  they are rejected when the template is saved (with a clear message).
* No loops (`for`, `cycle`, `regroup`, …) and no padding/joining filters
  (`ljust`, `center`, `stringformat`, `join`, `wordwrap`, …): a few dozen
  characters of template could otherwise render gigabytes. `floatformat`
  is wrapped to at most 10 decimal places for the same reason.
* `autoescape=False` (push text, not HTML), `string_if_invalid=""`
  (an unknown variable renders empty, it never fails a send).
* Variables are checked when a template is saved: `{{ award.valu }}` is an
  error naming the variables that exist (`TEMPLATE_VARIABLES`, the shape of
  the context `notifications.services.notification_context` builds).
* `now` is allowed: it only shows the current time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Lexer, TokenType, Variable
from django.template.defaulttags import FilterNode, TemplateLiteral, WithNode
from django.utils.dateparse import parse_date, parse_datetime

TEMPLATE_FIELDS = ("title", "body")
MAX_TEMPLATE_LENGTH = 2000
# Rendered texts are cut to what the Notification row (and push providers) take.
MAX_RENDERED_LENGTH = {"title": 255, "body": 2000}
MAX_FLOATFORMAT_PLACES = 10

# Used when a campaign has no template for a field.
DEFAULT_TEMPLATES = {
    "title": "{{ campaign.name }}",
    "body": (
        "{% if award.message %}{{ award.message }}{% else %}You have a new reward"
        "{% if award.value %}: {{ award.value }} {{ award.currency }}{% endif %}"
        "{% if award.voucher_code %} (code {{ award.voucher_code }}){% endif %}.{% endif %}"
    ),
}

# Every variable a push template may use, with what it holds and a sample value (the admin's preview
# renders with these). notifications.services.notification_context builds exactly this shape
# (tests/core/test_templating_variables.py holds the two together).
TEMPLATE_VARIABLES: dict[str, tuple[str, str]] = {
    "customer_id": ("The customer's id in the brand's systems", "cust-1042"),
    "award.award_id": ("The partner's id of the award", "AWD-2026-0001"),
    "award.reward_type": ("voucher or special_offer", "voucher"),
    "award.value": ("The reward's value, as money when it is an amount", "10.00"),
    "award.currency": ("The reward's currency (ISO 4217)", "EUR"),
    "award.voucher_code": ("The voucher code the partner issued", "XMAS-7KQ2"),
    "award.expires_at": ("When the award expires (use |date:'d/m/Y')", "2026-12-31T23:59:00+00:00"),
    "award.message": ("The partner's own message, if it sent one", ""),
    "campaign.id": ("The campaign's number", "1"),
    "campaign.name": ("The campaign's name", "Christmas 2026"),
    "partner.slug": ("The partner's short name", "acme-rewards"),
    "partner.name": ("The partner's name", "Acme Rewards"),
}


def sample_context(**overrides: Any) -> dict[str, Any]:
    """A context shaped like a real award's, filled with TEMPLATE_VARIABLES' samples (`campaign_name=`…)."""
    context: dict[str, Any] = {}
    for path, (_meaning, sample) in TEMPLATE_VARIABLES.items():
        *parents, leaf = path.split(".")
        node = context
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = overrides.get(path.replace(".", "_"), sample)
    return context


ALLOWED_TAGS = frozenset(
    {
        "if",  # with elif / else / endif
        "firstof",
        "with",
        "comment",
        "verbatim",
        "templatetag",
        "spaceless",
        "filter",
        "autoescape",
        "widthratio",
        "now",
    }
)
# Closing/intermediate words the lexer sees as block tokens of the allowed tags.
_INNER_TAG_WORDS = frozenset(
    {
        "elif",
        "else",
        "endif",
        "endwith",
        "endcomment",
        "endverbatim",
        "endspaceless",
        "endfilter",
        "endautoescape",
    }
)
ALLOWED_FILTERS = frozenset(
    {
        "add",
        "capfirst",
        "cut",
        "default",
        "default_if_none",
        "divisibleby",
        "first",
        "last",
        "length",
        "lower",
        "pluralize",
        "safe",
        "slice",
        "slugify",
        "title",
        "truncatechars",
        "truncatewords",
        "upper",
        "urlencode",
        "wordcount",
        "yesno",
    }
)


def _build_library() -> Library:
    library = Library()
    for name in ALLOWED_TAGS:
        library.tags[name] = defaulttags.register.tags[name]
    for name in ALLOWED_FILTERS:
        library.filters[name] = defaultfilters.register.filters[name]

    @library.filter(is_safe=True)
    def floatformat(value: Any, arg: Any = -1) -> str:
        try:
            places = int(str(arg).rstrip("gu") or -1)
        except ValueError:
            return ""
        if abs(places) > MAX_FLOATFORMAT_PLACES:
            return ""
        return defaultfilters.floatformat(value, arg)

    @library.filter(expects_localtime=False, is_safe=False)
    def date(value: Any, arg: str | None = None) -> str:
        """Django's `date`, also for the ISO 8601 strings the context carries."""
        if isinstance(value, str):
            value = parse_datetime(value) or parse_date(value) or ""
        return defaultfilters.date(value, arg) if value else ""

    return library


SANDBOX_LIBRARY = _build_library()


class _SandboxEngine(Engine):
    default_builtins: list[str] = []


def _make_engine() -> Engine:
    engine = _SandboxEngine(
        dirs=[], app_dirs=False, loaders=[], libraries={}, builtins=[], autoescape=False, string_if_invalid=""
    )
    engine.template_builtins = [SANDBOX_LIBRARY]
    return engine


SANDBOX_ENGINE = _make_engine()


def _forbidden_tags(source: str) -> list[str]:
    words = []
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            word = token.contents.split()[0] if token.contents.split() else ""
            closing_a_forbidden_tag = word.startswith("end") and word[3:] in words
            if (
                word
                and word not in ALLOWED_TAGS
                and word not in _INNER_TAG_WORDS
                and not closing_a_forbidden_tag
            ):
                words.append(word)
    return words


_KNOWN_PATHS = frozenset(
    ".".join(path.split(".")[: depth + 1])
    for path in TEMPLATE_VARIABLES
    for depth in range(len(path.split(".")))
)


def _expressions(value: Any) -> list[FilterExpression]:
    """The filter expressions held by one attribute of a node (directly, in lists/dicts, in `if` conditions)."""
    if isinstance(value, FilterExpression):
        return [value]
    if isinstance(value, TemplateLiteral):
        return [value.value]
    if isinstance(value, list | tuple):
        return [found for item in value for found in _expressions(item)]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _expressions(item)]
    if hasattr(value, "first") and hasattr(value, "second"):  # an `if` operator: and, or, ==, in …
        return _expressions(value.first) + _expressions(value.second)
    return []


def _variables(expression: FilterExpression) -> list[Variable]:
    found = [expression.var] if isinstance(expression.var, Variable) else []
    for _filter, arguments in expression.filters:
        found += [argument for lookup, argument in arguments if lookup and isinstance(argument, Variable)]
    return [variable for variable in found if variable.lookups is not None]


def _unknown_variables(
    nodes: Any, local_names: frozenset[str] = frozenset(), known: frozenset[str] | None = None
) -> list[str]:
    """Dotted names used in the template that neither TEMPLATE_VARIABLES nor a `with` defines."""
    unknown: list[str] = []
    # `{% now "Y" as year %}` defines `year` for what follows it.
    local_names = local_names | {node.asvar for node in nodes if getattr(node, "asvar", None)}
    for node in nodes:
        # `{% filter upper %}` compiles to the expression `var|upper`: its `var` is not the writer's.
        values = [] if isinstance(node, FilterNode) else vars(node).values()
        expressions = [found for value in values for found in _expressions(value)]
        for expression in expressions:
            for variable in _variables(expression):
                name = ".".join(variable.lookups)
                if variable.lookups[0] not in local_names and name not in (known or _KNOWN_PATHS):
                    unknown.append(name)
        inner = local_names
        if isinstance(node, WithNode):
            inner = local_names | frozenset(node.extra_context)
        for attribute in getattr(node, "child_nodelists", ()):
            unknown += _unknown_variables(getattr(node, attribute, None) or [], inner, known)
        for _condition, nodelist in getattr(node, "conditions_nodelists", ()):
            unknown += _unknown_variables(nodelist, inner, known)
    return list(dict.fromkeys(unknown))


def unknown_variables(source: str) -> list[str]:
    """The variables of a (compilable) template that a notification's context does not have."""
    template = SANDBOX_ENGINE.from_string(source)
    return _unknown_variables(template.nodelist)


def _template_errors(field: str, source: Any) -> list[str]:
    if not isinstance(source, str):
        return [f"{field}: must be a string."]
    return list(_string_template_errors(field, source))


@functools.lru_cache(maxsize=1024)
def _string_template_errors(field: str, source: str) -> tuple[str, ...]:
    """Pure in (field, source), so remembered: an import of 1,000 campaigns carries a few texts."""
    return tuple(_compile_errors(field, source))


def _compile_errors(field: str, source: str) -> list[str]:
    if len(source) > MAX_TEMPLATE_LENGTH:
        return [f"{field}: at most {MAX_TEMPLATE_LENGTH} characters."]
    forbidden = _forbidden_tags(source)
    if forbidden:
        return [f"{field}: the tag '{word}' is not allowed in notification templates." for word in forbidden]
    try:
        unknown = unknown_variables(source)
    except TemplateSyntaxError as exc:
        return [f"{field}: {exc}"]
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        return [
            f"{field}: {names} {'is not a variable' if len(unknown) == 1 else 'are not variables'}; "
            f"the variables are {', '.join(TEMPLATE_VARIABLES)}."
        ]
    return []


def validate_notification_templates(notification: Any) -> None:
    """Raise ValidationError({"notification": [...]}) unless the templates compile in the sandbox.

    `{}` is valid (the default texts are used); only `title` and `body` are
    accepted, each a string of at most MAX_TEMPLATE_LENGTH characters using
    only the whitelisted tags and filters.
    """
    if notification is None:
        notification = {}
    if not isinstance(notification, Mapping):
        raise ValidationError({"notification": ['Must be an object {"title": "...", "body": "..."}.']})
    errors = [
        f"{key}: unknown field (allowed: title, body)." for key in notification if key not in TEMPLATE_FIELDS
    ]
    for field in TEMPLATE_FIELDS:
        if field in notification:
            errors.extend(_template_errors(field, notification[field]))
    if errors:
        raise ValidationError({"notification": errors})


def notification_templates_validator(value: Any) -> None:
    """The same check as a model-field validator (`JSONField(validators=[...])`): errors land on the field."""
    try:
        validate_notification_templates(value)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict["notification"]) from None


class NotificationRenderError(Exception):
    """A stored template failed to compile or render (saved before validation, or edited in the DB)."""


def _plain(value: Any) -> Any:
    """Only plain data enters a template: dicts, lists, strings, numbers, booleans, None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def render_notification(
    notification: Mapping[str, Any] | None, context: Mapping[str, Any]
) -> tuple[str, str]:
    """Render (title, body) in the sandbox; missing templates fall back to DEFAULT_TEMPLATES."""
    notification = notification or {}
    if not isinstance(notification, Mapping):
        raise NotificationRenderError("the campaign's notification templates are not an object")
    plain_context = _plain(dict(context))
    rendered = []
    for field in TEMPLATE_FIELDS:
        source = notification.get(field) or DEFAULT_TEMPLATES[field]
        if not isinstance(source, str) or len(source) > MAX_TEMPLATE_LENGTH or _forbidden_tags(source):
            raise NotificationRenderError(f"{field}: not a valid notification template")
        try:
            text = SANDBOX_ENGINE.from_string(source).render(Context(plain_context, autoescape=False))
        except Exception as exc:  # a template error must never escape as a crash of the caller
            raise NotificationRenderError(f"{field}: {type(exc).__name__}: {exc}") from exc
        rendered.append(text.strip()[: MAX_RENDERED_LENGTH[field]])
    return rendered[0], rendered[1]


# --- Message templates of broadcasts (SPEC §14): the same sandbox, a customer's context ---------------

MESSAGE_TEMPLATE_VARIABLES: dict[str, tuple[str, str]] = {
    "customer.customer_id": ("The customer's id in the brand's systems", "cust-1042"),
    "customer.email": ("The customer's email address", "ann@example.com"),
    "customer.locale": ("The customer's locale (BCP 47)", "de-DE"),
    "customer.country": ("The customer's country (ISO 3166-1)", "DE"),
    "campaign.id": ("The campaign's number", "1"),
    "campaign.name": ("The campaign's name", "Christmas 2026"),
    "unsubscribe_url": (
        "The customer's signed unsubscribe link (marketing email)",
        "https://…/unsubscribe/…/",
    ),
}
_MESSAGE_KNOWN_PATHS = frozenset(
    ".".join(path.split(".")[: depth + 1])
    for path in MESSAGE_TEMPLATE_VARIABLES
    for depth in range(len(path.split(".")))
)
MAX_MESSAGE_TEMPLATE_LENGTH = 100_000  # an HTML email


def message_template_errors(field: str, source: str) -> list[str]:
    """Why a broadcast's template cannot be saved (empty list: it can)."""
    if not isinstance(source, str):
        return [f"{field}: must be a string."]
    if len(source) > MAX_MESSAGE_TEMPLATE_LENGTH:
        return [f"{field}: at most {MAX_MESSAGE_TEMPLATE_LENGTH} characters."]
    forbidden = _forbidden_tags(source)
    if forbidden:
        return [f"{field}: the tag '{word}' is not allowed in message templates." for word in forbidden]
    try:
        unknown = _unknown_variables(SANDBOX_ENGINE.from_string(source).nodelist, known=_MESSAGE_KNOWN_PATHS)
    except TemplateSyntaxError as exc:
        return [f"{field}: {exc}"]
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        return [
            f"{field}: {names} not a variable; the variables are {', '.join(MESSAGE_TEMPLATE_VARIABLES)}."
        ]
    return []


def compile_message_template(source: str) -> Any:
    if message_template_errors("template", source):
        raise NotificationRenderError("not a valid message template")
    return SANDBOX_ENGINE.from_string(source)


def render_message_template(
    template: Any, context: Mapping[str, Any], *, html: bool = False, limit: int
) -> str:
    """Render a compiled message template; HTML autoescapes the variables, text does not."""
    try:
        text = template.render(Context(_plain(dict(context)), autoescape=html))
    except Exception as exc:  # a template error must never escape as a crash of the caller
        raise NotificationRenderError(f"{type(exc).__name__}: {exc}") from exc
    return text.strip()[:limit]


# --- Generated content (content/guard_rails.py): which variables a draft uses that no template has -----


def known_variable_paths(*variable_tables: Mapping[str, Any]) -> frozenset[str]:
    """Every dotted path (and each of its prefixes) of the given variable tables."""
    return frozenset(
        ".".join(path.split(".")[: depth + 1])
        for table in variable_tables
        for path in table
        for depth in range(len(path.split(".")))
    )


def template_variable_problems(source: str, known: frozenset[str]) -> list[str]:
    """What stops `source` from being a sandbox template over `known` variables: forbidden tags, a syntax
    error, unknown variables (each `{{ name }}`); an empty list when it is fine. Pure: parses, renders nothing."""
    forbidden = _forbidden_tags(source)
    if forbidden:
        return [f"the tag '{word}' is not allowed" for word in forbidden]
    try:
        unknown = _unknown_variables(SANDBOX_ENGINE.from_string(source).nodelist, known=known)
    except TemplateSyntaxError as exc:
        return [f"template syntax: {exc}"]
    return ["{{ " + name + " }}" for name in unknown]
