"""Japanese input (issue 20, item 9): kana and kanji become the a–z the character models know (romaji, pykakasi),
every word page says so in the student's language ("ねこ → neko"), and what can't be written in letters stays
<UNK> with a plain message — the Lesson never asks a question about <UNK>."""

from __future__ import annotations

import pytest
from lab_fixtures import open_app, shown, tiny_bundle

from models.vocab import DEFAULT_VOCAB, romanize

ANIMALS = {"ねこ": "neko", "猫": "neko", "いぬ": "inu", "きりん": "kirin", "カピバラ": "kapibara", "ライオン": "raion"}


@pytest.mark.parametrize("typed, read", ANIMALS.items())
def test_kana_and_kanji_become_the_letters_the_models_know(typed, read):
    enc = DEFAULT_VOCAB.encode(typed)
    assert enc.tokens == ("<BOS>", *read) and not enc.unknown
    assert enc.romanized == ((typed, read),)


def test_what_cannot_be_written_in_letters_stays_unknown():
    for typed, unknown in (("ー", ("ー",)), ("々", ("々",)), ("ñ", ("ñ",)), ("猫々!", ("々", "!"))):
        enc = DEFAULT_VOCAB.encode(typed)
        assert enc.unknown == unknown, typed
    assert DEFAULT_VOCAB.encode("猫々!").tokens == ("<BOS>", "n", "e", "k", "o", "<UNK>", "<UNK>")
    assert romanize("ＣＡＴ").text == "CAT"  # a Japanese keyboard's wide letters are letters
    assert romanize("capybara") == romanize("capybara") and romanize("capybara").pairs == ()  # plain text: as is


def test_capture_and_generation_read_romaji_and_say_so_in_japanese():
    from models.capture import capture
    from models.generate import generate
    from ui.i18n import gettext_for

    b = tiny_bundle("miniformer")
    cap = capture(b, "ねこ")
    assert cap.tgt_tokens == ("<BOS>", "n", "e", "k", "o") and len(cap.notes) == 1
    assert cap.notes[0].render(gettext_for("ja")).startswith("ねこ → neko:モデルが知っているのは a–z の文字だけ")
    assert str(cap.notes[0]).startswith("ねこ → neko: the models know only the letters a–z")
    assert generate(b, "ねこ", max_new=3).text.startswith("neko")


def test_explore_in_japanese_shows_every_note_in_japanese():
    at = open_app(state={"lang": "ja"})
    at.text_input(key="text").input("ネコ!Ab").run()
    assert not at.exception, [e.value for e in at.exception]
    infos = [shown(i.value) for i in at.info]
    assert (
        "ネコ → neko:モデルが知っているのは a–z の文字だけなので、日本語はローマ字に直して読ませています。" in infos
    ), infos
    assert "語彙にない文字なので <UNK> として表示しています:'!'。" in infos, infos
    assert "大文字は小文字に直しました。" in infos, infos
    assert not [i for i in infos if "vocabulary" in i or "lowercased" in i or "romaji" in i], infos


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_lesson_asks_about_the_romaji_and_never_about_unk(lang):
    quote = {"en": "“{}”", "ja": "「{}」"}[lang].format
    at = open_app(state={"lang": lang})
    at.query_params["step"] = "1"
    at.switch_page("app_pages/0_lesson.py").run()
    box = at.text_input(key="lesson.word.1")
    box.input("ねこ").run()
    assert not at.exception, [e.value for e in at.exception]
    question = at.button_group(key="lesson.1.guess")
    assert quote("neko") in question.label and "<UNK>" not in question.label, question.label
    assert not [i for i in at.info if "UNK" in i.value], [i.value for i in at.info]
    # Nothing here can be written in a–z: a plain message, and the question is about the suggested word
    at.text_input(key="lesson.word.1").input("ñ🙂").run()
    assert not at.exception, [e.value for e in at.exception]
    question = at.button_group(key="lesson.1.guess")
    assert quote("capyba") in question.label and "<UNK>" not in question.label, question.label
    infos = [shown(i.value) for i in at.info]
    plain = {
        "en": "The models know only the letters a–z, and 'ñ' '🙂' can't be written in them, so this step uses "
        "the suggested word “capyba”.",
        "ja": "モデルが知っているのは a–z の文字だけで、'ñ' '🙂' はこの文字で書き表せません。そこで、このステップでは"
        "提案の単語「capyba」を使います。",
    }[lang]
    assert infos == [plain], infos
