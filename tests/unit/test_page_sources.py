"""The pages need no inline code: a strict CSP (cluster/test_web_security.py) blocks inline
scripts and styles, and our modules use no eval, no inline style and no innerHTML."""

from __future__ import annotations

from html.parser import HTMLParser

from helpers import ROOT

WEB_CLIENT = ROOT / "web_client"


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style blocks and
    attributes, event-handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k.lower(): v or "" for k, v in attrs}
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            self._script = "src" not in names
        for name, value in names.items():
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=...>")
            if value.strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.found.append("inline <script>")


def test_pages_have_no_inline_scripts_or_styles() -> None:
    pages = sorted(WEB_CLIENT.rglob("*.html"))
    assert len(pages) >= 6
    for page in pages:
        parser = InlineCode()
        parser.feed(page.read_text())
        assert parser.found == [], (str(page.relative_to(WEB_CLIENT)), parser.found)
    # Our own modules in every page folder; the vendored libraries are upstream's builds.
    scripts = [p for p in WEB_CLIENT.rglob("*.js")
               if "vendor" not in p.relative_to(WEB_CLIENT).parts]
    assert len(scripts) >= 20
    for script in scripts:
        text = script.read_text()
        for blocked in ("eval(", "new Function(", 'setAttribute("style"', ".innerHTML"):
            assert blocked not in text, (str(script.relative_to(WEB_CLIENT)), blocked)
