"""Cutting streamed text into speakable segments: sentence and clause ends, waits, limits."""

from __future__ import annotations

import pytest

from streamer.speech.synthesis.segmenter import Segmenter, speakable


def stream(seg: Segmenter, text: str, step: int = 3, ms_per_piece: int = 50) -> list[tuple[int, str]]:
    """Feed ``text`` ``step`` characters at a time; the segments with the time each came out."""
    out: list[tuple[int, str]] = []
    t = 0
    for i in range(0, len(text), step):
        out += [(t, s) for s in seg.feed(text[i : i + step], t)]
        t += ms_per_piece
    return out + [(t, s) for s in seg.finish()]


def test_sentences_cut_as_soon_as_the_space_after_them_arrives() -> None:
    seg = Segmenter()
    assert seg.feed("Hello there.", 0) == []  # "there." may still be "there.com"
    assert seg.feed(" How", 10) == ["Hello there."]
    assert seg.feed(" are you? I'm", 20) == ["How are you?"]
    assert seg.finish() == ["I'm"]


def test_the_whole_text_comes_out_once_in_order_whatever_the_chunking() -> None:
    text = (
        "Well, that's a great question! Let me think... The answer, as far as I know, is 42; "
        'Dr. Adams said so in 1979. He wrote: "Don\'t panic." Then, quietly, he left.\nThe end'
    )
    for step in (1, 2, 5, 17, len(text)):
        pieces = [s for _, s in stream(Segmenter(), text, step)]
        assert " ".join(pieces).split() == text.split(), step
        assert "Dr." not in [p.split()[-1] for p in pieces], "an abbreviation does not end a sentence"
        assert 'He wrote: "Don\'t panic."' in pieces


def test_the_first_segment_is_short_for_a_quick_start_and_later_ones_keep_their_clauses() -> None:
    seg = Segmenter(first_clause_words=3, clause_words=8, first_words=100)
    text = "Oh wow, that is amazing, I love it, and I want to tell everyone, right now, today."
    pieces = [s for _, s in stream(seg, text)]
    assert pieces[0] == "Oh wow, that is amazing,"  # two words before the first comma is too few
    assert pieces[1] == "I love it, and I want to tell everyone,"
    assert pieces[2] == "right now, today."


def test_a_stalled_stream_speaks_its_complete_words_after_the_wait() -> None:
    seg = Segmenter(wait_ms=300, first_words=100)
    assert seg.feed("So the thing is that we", 0) == []
    assert seg.next_due_ms() == 300
    assert seg.due(299) == []
    assert seg.due(300) == ["So the thing is that"], "the last word may be unfinished: it waits"
    assert seg.pending == "we"
    assert seg.feed("ird", 400) == [] and seg.finish() == ["weird"]


def test_nothing_is_due_without_a_complete_word() -> None:
    seg = Segmenter(wait_ms=100)
    seg.feed("Supercalifragilistic", 0)
    assert seg.due(10_000) == [] and seg.next_due_ms() is None


def test_long_text_without_punctuation_is_cut_at_a_space_within_the_limit() -> None:
    seg = Segmenter(max_chars=40)
    words = " ".join(f"word{i}" for i in range(40))
    pieces = [s for _, s in stream(seg, words, 7)]
    assert all(len(p) <= 40 for p in pieces)
    assert " ".join(pieces).split() == words.split()


@pytest.mark.parametrize(
    ("text", "cuts"),
    [
        ("今日は。元気です！ありがとう", ["今日は。", "元気です！", "ありがとう"]),
        ("¿Qué tal? ¡Muy bien! Gracias.", ["¿Qué tal?", "¡Muy bien!", "Gracias."]),
        ("Pi is 3.14159 and e is 2.718. Nice", ["Pi is 3.14159 and e is 2.718.", "Nice"]),
        ("Line one\nLine two\n\nLine three", ["Line one", "Line two", "Line three"]),
        ("J. R. R. Tolkien wrote it. Yes", ["J. R. R. Tolkien wrote it.", "Yes"]),
    ],
)
def test_cuts_in_other_scripts_numbers_initials_and_lines(text: str, cuts: list[str]) -> None:
    assert [s for _, s in stream(Segmenter(first_words=100), text, 2)] == cuts


def test_the_first_segment_of_an_utterance_is_cut_after_a_few_words_even_without_punctuation() -> None:
    seg = Segmenter(first_words=4)
    assert seg.feed("So what I really think about this", 0) == ["So what I really"]
    assert seg.feed(" is that it works. Then", 10) == ["think about this is that it works."]
    assert seg.finish() == ["Then"]
    assert seg.feed("Next time around", 20) == [], "a new utterance: the rule applies again, at 4 words"


def words_fed(seg: Segmenter, text: str) -> list[str]:
    """Segments cut while ``text`` arrives a word at a time, as an LLM streams it."""
    return [piece for word in text.split() for piece in seg.feed(word + " ", 0)]


def test_the_first_segment_does_not_end_on_a_word_that_leans_on_the_next() -> None:
    def first(text: str) -> str:
        return words_fed(Segmenter(), text)[0]  # two words, or up to four while the last leans on the next

    assert first("Okay today we are going to make something fun.") == "Okay today"
    assert first("So the answer depends on what you want.") == "So the answer"
    assert first("Then I think we should start small.") == "Then I think"
    assert first("It is that the answer is clear.") == "It is that the", "at most two more words"
    assert first("[excited] Oh wow that is great") == "[excited] Oh wow", "an emotion tag is not a word"


def test_a_one_word_opening_clause_is_not_a_segment_of_its_own() -> None:
    assert words_fed(Segmenter(), "Well, that is a really good question, I think.") == [
        "Well, that is a",
        "really good question, I think.",
    ]


def test_finish_resets_for_the_next_utterance() -> None:
    seg = Segmenter(first_clause_words=2, clause_words=20, first_words=100)
    stream(seg, "One two, three four, five six.")
    assert [s for _, s in stream(seg, "Again now, more words here.")] == ["Again now,", "more words here."]


def test_speakable_drops_markdown_an_llm_writes() -> None:
    text = "## Title\n**Bold** and *soft* and `code`, see [the docs](https://x.example/a).\n- item\n```py\nx = 1\n```"
    assert speakable(text).split() == ["Title", "Bold", "and", "soft", "and", "code,", "see", "the", "docs.", "item"]
    assert speakable("2*3*4 is 24 and snake_case_name stays") == "2*3*4 is 24 and snake_case_name stays"


def test_a_one_word_first_sentence_joins_what_follows() -> None:
    seg = Segmenter(first_words=4)
    assert seg.feed("Wow! ", 0) == []
    assert seg.feed("I am so happy. ", 10) == ["Wow! I am so", "happy."]
    assert seg.finish() == []
    assert seg.feed("Hello there. Bye", 20) == ["Hello there."], "two words are a sentence of their own"


def test_a_one_word_first_clause_is_cut_alone_only_when_the_caller_allows_it() -> None:
    assert Segmenter().feed("Well, that is a really", 0) == ["Well, that is a"], "joined by default"
    quick = Segmenter(lone_first_clause=True)
    assert quick.feed("Well, that", 0) == ["Well,"]
    assert quick.feed(" is nice, and then we go on", 50) == [], "later clauses keep their length"
    assert Segmenter(lone_first_clause=True).feed("Wow! That", 0) == ["Wow!"]
    assert Segmenter(lone_first_clause=True).feed("So nobody knew", 0) == ["So nobody"], "no clause: the usual rule"


def test_the_runway_cuts_the_complete_words_so_far_after_the_last_that_does_not_lean() -> None:
    seg = Segmenter(first_words=100)
    assert seg.feed("that is a really interesting question and the", 0) == []
    assert seg.runway() == ["that is a really interesting question"], "'and the' lean on what follows"
    assert seg.pending.strip() == "and the"
    assert seg.feed(" ans", 10) == [] and seg.runway() == [], "only leaning words: they wait for more"
    assert seg.feed("wer is", 20) == [] and seg.runway() == ["and the answer"], "'is' is not complete yet"
    assert seg.finish() == ["is"]
