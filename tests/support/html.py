"""Read figures out of rendered admin HTML the way a person reads the page: the text of an element."""

from __future__ import annotations

from html.parser import HTMLParser

_VOID = {"br", "img", "input", "meta", "link", "hr", "col", "area", "base", "source", "wbr"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[dict] = []
        self.elements: list[dict] = []

    def handle_starttag(self, tag, attrs):
        for parent in self.stack:  # cells of a row read as separate words
            parent["text"].append(" ")
        element = {"tag": tag, "attrs": dict(attrs), "text": [], "parents": list(self.stack)}
        self.elements.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index]["tag"] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        for element in self.stack:
            element["text"].append(data)


def elements(html: str) -> list[dict]:
    """Every element: its tag, attributes, whitespace-collapsed text, and its ancestors."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    for element in parser.elements:
        element["text"] = " ".join("".join(element["text"]).split())
    return parser.elements


def text_by_id(html: str) -> dict[str, str]:
    return {e["attrs"]["id"]: e["text"] for e in elements(html) if e["attrs"].get("id")}


def texts_by_class_within(html: str, *, attr: str, value: str) -> dict[str, str]:
    """The text of each classed element inside the element whose `attr` is `value` (a table row)."""
    found: dict[str, str] = {}
    for element in elements(html):
        if any(parent["attrs"].get(attr) == value for parent in element["parents"]):
            for css_class in (element["attrs"].get("class") or "").split():
                found[css_class] = element["text"]
    return found
