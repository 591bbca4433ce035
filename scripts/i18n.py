"""Translation catalogs with Babel (STYLE.md §13): extract the ``_()`` strings, update each language, compile.

    .venv/bin/python scripts/i18n.py extract   # locale/messages.pot from app.py, app_pages/, ui/, viz/,
                                                #   models/ and services/
    .venv/bin/python scripts/i18n.py update    # merge the template into every locale/<lang>/LC_MESSAGES/messages.po
    .venv/bin/python scripts/i18n.py compile   # .po -> .mo (git-ignored; set-up runs this)
    .venv/bin/python scripts/i18n.py check     # list strings a language has not translated yet (exit 1 if any)

A third language is one new ``locale/<lang>/LC_MESSAGES/messages.po`` (``update`` fills it with the msgids) and its
code in ``ui.i18n.LANGUAGES``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
TEMPLATE = LOCALE / "messages.pot"
SOURCES = ("app.py", "app_pages", "ui", "viz", "models", "services")  # viz, models, services mark theirs with N_()
KEYWORDS = {"_": None, "N_": None}


def extract() -> Catalog:
    """Every ``_("...")`` msgid in the app's sources, with where it is used."""
    cat = Catalog(project="Attention Lab", fuzzy=False)
    for src in SOURCES:
        path = ROOT / src
        if path.is_file():
            from babel.messages.extract import extract_from_file

            found = (
                (path.name, lineno, msg, comments, context)
                for lineno, msg, comments, context in extract_from_file("python", path, keywords=KEYWORDS)
            )
        else:
            found = (
                (f"{src}/{fn}", lineno, msg, comments, context)
                for fn, lineno, msg, comments, context in extract_from_dir(
                    path, [("**.py", "python")], keywords=KEYWORDS
                )
            )
        for fn, lineno, msg, comments, context in found:
            if msg:
                cat.add(msg, locations=[(fn, lineno)], auto_comments=comments, context=context)
    return cat


def po_files() -> list[Path]:
    return sorted(LOCALE.glob("*/LC_MESSAGES/messages.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def write(path: Path, cat: Catalog) -> None:
    buf = io.BytesIO()
    write_po(buf, cat, width=120, no_location=True, sort_output=False, omit_header=False)
    path.write_bytes(buf.getvalue())


def update() -> None:
    template = extract()
    write(TEMPLATE, template)
    for po in po_files():
        cat = read(po)
        cat.update(template, no_fuzzy_matching=True)
        cat.obsolete.clear()
        cat.fuzzy = False
        write(po, cat)
        print(f"[i18n] updated {po.relative_to(ROOT)}: {len(cat)} strings")


def compile_all() -> None:
    for po in po_files():
        cat = read(po)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, cat, use_fuzzy=False)


def untranslated(lang: str, template: Catalog | None = None) -> list[str]:
    """msgids used in the code that ``lang``'s catalog lacks or leaves empty."""
    template = template or extract()
    po = LOCALE / lang / "LC_MESSAGES" / "messages.po"
    cat = read(po) if po.exists() else Catalog()
    missing = []
    for m in template:
        if not m.id:
            continue
        t = cat.get(m.id)
        if t is None or not t.string or t.fuzzy:
            missing.append(m.id)
    return missing


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "compile"
    if cmd == "extract":
        write(TEMPLATE, extract())
    elif cmd == "update":
        update()
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        bad = {po.parent.parent.name: untranslated(po.parent.parent.name) for po in po_files()}
        for lang, ids in bad.items():
            for i in ids:
                print(f"{lang}: untranslated: {i!r}")
        return 1 if any(bad.values()) else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
