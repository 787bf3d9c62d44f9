"""The README stays short and every page of docs/ stays reachable: the README under 12,000 characters, linking every
docs/*.md page, and every relative link in the README and in docs/ leading to a file that exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_CHARS = 12_000

FENCED_CODE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(page: Path) -> list[tuple[str, Path]]:
    """Each relative link of a markdown page as (as written, the file it names); web links and anchors alone left out."""
    text = INLINE_CODE.sub("", FENCED_CODE.sub("", page.read_text(encoding="utf-8")))
    links = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # http(s), mailto and the like; an anchor in the same page
        path = target.split("#", 1)[0].split("?", 1)[0]
        links.append((target, (page.parent / path).resolve()))
    return links


def test_the_readme_stays_short():
    size = len(README.read_text(encoding="utf-8"))
    assert size < MAX_README_CHARS, f"README.md has {size} characters; move details to docs/ (limit {MAX_README_CHARS})"


def test_the_readme_links_every_docs_page():
    linked = {path for _, path in relative_links(README)}
    unlinked = [page.relative_to(ROOT).as_posix() for page in sorted((ROOT / "docs").glob("*.md")) if page.resolve() not in linked]
    assert not unlinked, f"docs pages not linked from README.md: {unlinked}"


def test_every_relative_link_leads_to_a_file():
    broken = [f"{page.relative_to(ROOT).as_posix()}: ({target})" for page in pages()
              for target, path in relative_links(page) if not path.exists()]
    assert not broken, f"relative links to nothing: {broken}"


def test_the_link_reader_finds_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('[a](docs/a.md) [b](b.md#part "title") [web](https://example.org) [here](#top) ![img](img/x.png)\n'
                    "`[not](code.md)`\n```\n[not](fenced.md)\n```\n", encoding="utf-8")
    assert [target for target, _ in relative_links(page)] == ["docs/a.md", "b.md#part", "img/x.png"]
    assert relative_links(page)[1][1] == (tmp_path / "b.md").resolve()
