"""The emotion rules' word lists (English, Spanish, French, German), emoji and emoticons (pure, data).

Each :class:`Language` holds a lexicon of emotional words (base forms, intensity in [0, 1]),
two-word phrases, negations, intensifiers, softeners, the words that signal surprise in a
question, and how to reduce a word to a base form (plural and gender endings; accents dropped
in Spanish and French, where people often leave them out; French elisions such as ``j'``).
The rules that read them live in :mod:`streamer.core.emotions`. A language without a list
(Japanese, Hindi, ...) is read by punctuation and emoji alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

JOY, SADNESS, FEAR, ANGER, SURPRISE = "joy", "sadness", "fear", "anger", "surprise"


@dataclass(frozen=True)
class Language:
    """One language's word lists for the emotion rules (all keys are base forms, see :meth:`base`)."""

    code: str
    lexicon: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    phrases: Mapping[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    negations: frozenset[str] = frozenset()
    intensifiers: Mapping[str, float] = field(default_factory=dict)
    softeners: Mapping[str, float] = field(default_factory=dict)
    question_surprise: frozenset[str] = frozenset()
    suffixes: tuple[tuple[str, str], ...] = ()  # (ending, replacement) tried to find a base form
    plain: bool = False  # accents are dropped (in the lists and in the text)
    elisions: tuple[str, ...] = ()  # prefixes cut off a word ("j'" in "j'adore")
    function_words: frozenset[str] = frozenset()  # frequent words that tell the language apart

    def base(self, norm: str) -> str:
        """A normalised word as the lists spell it (accents dropped where ``plain``)."""
        if not self.plain:
            return norm
        return "".join(ch for ch in unicodedata.normalize("NFD", norm) if not unicodedata.combining(ch))

    def split_elision(self, word: str) -> str:
        """``"j'adore"`` -> ``"adore"`` for a language with elisions; other words unchanged."""
        lower = word.lower().replace("’", "'")
        for prefix in self.elisions:
            if lower.startswith(prefix) and len(lower) > len(prefix):
                return word[len(prefix) :]
        return word


def _words(text: str) -> list[str]:
    return text.split()


def _entries(emotion: str, intensity: float, words: str) -> dict[str, tuple[str, float]]:
    return dict.fromkeys(_words(words), (emotion, intensity))


# The lexicon: word -> (emotion, intensity). Base forms; simple inflections are found by ``emotions._lookup``.
LEXICON: Mapping[str, tuple[str, float]] = {
    # joy
    **_entries(JOY, 0.3, "hello hi hey welcome ok okay fine nice good glad pleased cool please"),
    **_entries(JOY, 0.4, "thanks thank appreciate like"),
    **_entries(JOY, 0.45, "enjoy fun lucky proud yay hooray congratulations congrats smile laugh"),
    **_entries(JOY, 0.45, "great beautiful lovely sweet kind cute friend celebrate excited exciting hope"),
    **_entries(JOY, 0.55, "happy love wonderful fantastic awesome delighted perfect brilliant excellent"),
    **_entries(JOY, 0.55, "joy cheerful grateful thrilled amazing yes win won success"),
    **_entries(JOY, 0.7, "ecstatic overjoyed incredible"),
    # sadness
    **_entries(SADNESS, 0.4, "sorry sad unhappy miss lonely tired disappointed disappointing hurt cry"),
    **_entries(SADNESS, 0.4, "bad poor unfortunately unfortunate regret lost lose loss fail failed failure"),
    **_entries(SADNESS, 0.55, "terrible awful horrible tragic tragedy heartbroken miserable grief depressed"),
    **_entries(SADNESS, 0.55, "sick pain painful died dead death broken upset"),
    # fear and worry
    **_entries(FEAR, 0.4, "worry worried concern concerned nervous anxious afraid careful unsure doubt"),
    **_entries(FEAR, 0.5, "scared scary fear frightened danger dangerous risk risky problem trouble"),
    **_entries(FEAR, 0.6, "terrified panic terrifying warning emergency help"),
    # anger
    **_entries(ANGER, 0.4, "annoyed annoying angry mad hate unfair stupid ridiculous"),
    **_entries(ANGER, 0.6, "furious outraged disgusting"),
    # surprise
    **_entries(SURPRISE, 0.5, "surprise surprised surprising unexpected suddenly strange weird whoa"),
    **_entries(SURPRISE, 0.3, "oh ooh"),
    **_entries(SURPRISE, 0.6, "wow whoa omg shocked shocking astonishing unbelievable gosh"),
}
# Two-word phrases, read before their single words.
PHRASES: Mapping[tuple[str, str], tuple[str, float]] = {
    ("oh", "no"): (FEAR, 0.55),
    ("no", "way"): (SURPRISE, 0.6),
    ("oh", "my"): (SURPRISE, 0.55),
    ("thank", "you"): (JOY, 0.4),
    ("well", "done"): (JOY, 0.5),
}
# "Really?", "What?": surprise only when the sentence is a question.
QUESTION_SURPRISE = frozenset({"really", "what", "seriously", "huh", "sure", "way"})
NEGATIONS = frozenset(
    _words(
        "not no never nobody nothing neither nor without cannot hardly barely dont doesnt didnt isnt arent wasnt "
        "werent wont wouldnt cant couldnt shouldnt aint"
    )
)
INTENSIFIERS: Mapping[str, float] = {
    **dict.fromkeys(_words("so very really extremely totally super truly incredibly absolutely"), 1.5),
    **dict.fromkeys(_words("quite pretty too"), 1.2),
}
SOFTENERS: Mapping[str, float] = dict.fromkeys(_words("bit slightly somewhat little kinda"), 0.6)
ENGLISH = Language(
    code="en",
    lexicon=LEXICON,
    phrases=PHRASES,
    negations=NEGATIONS,
    intensifiers=INTENSIFIERS,
    softeners=SOFTENERS,
    question_surprise=QUESTION_SURPRISE,
    suffixes=(("s", ""), ("es", ""), ("ed", ""), ("ed", "e"), ("d", ""), ("ing", ""), ("ing", "e")),
    function_words=frozenset(_words("the and is are you to of it this that my we was have with but")),
)

SPANISH = Language(
    code="es",
    lexicon={
        **_entries(JOY, 0.3, "hola bienvenido bueno bien vale claro"),
        **_entries(JOY, 0.4, "gracias agradezco gusta"),
        **_entries(JOY, 0.45, "divertido suerte orgulloso sonrisa reir bonito lindo amigo celebrar emocionado"),
        **_entries(JOY, 0.55, "feliz contento alegre encanta encantado amor maravilloso fantastico perfecto"),
        **_entries(JOY, 0.55, "excelente estupendo genial"),
        **_entries(JOY, 0.7, "felicisimo"),
        **_entries(SADNESS, 0.4, "triste perdon cansado decepcionado solo llorar mal lastima siento"),
        **_entries(SADNESS, 0.55, "terrible horrible tragico deprimido dolor muerto roto"),
        **_entries(FEAR, 0.4, "preocupado nervioso ansioso miedo"),
        **_entries(FEAR, 0.5, "asustado peligro peligroso problema"),
        **_entries(FEAR, 0.6, "aterrado panico ayuda socorro"),
        **_entries(ANGER, 0.4, "enfadado enojado molesto odio injusto estupido"),
        **_entries(ANGER, 0.6, "furioso indignado asqueroso"),
        **_entries(SURPRISE, 0.5, "sorpresa sorprendido inesperado raro extrano"),
        **_entries(SURPRISE, 0.6, "guau caramba increible"),
        **_entries(SURPRISE, 0.3, "oh"),
    },
    phrases={("lo", "siento"): (SADNESS, 0.4), ("madre", "mia"): (SURPRISE, 0.6), ("que", "bien"): (JOY, 0.55)},
    negations=frozenset(_words("no nunca jamas nada nadie ni sin tampoco ningun ninguno ninguna")),
    intensifiers={**dict.fromkeys(_words("muy tan super realmente totalmente"), 1.5), "bastante": 1.2},
    softeners=dict.fromkeys(_words("poco algo"), 0.6),
    question_surprise=frozenset(_words("que serio verdad")),
    suffixes=(("s", ""), ("es", ""), ("a", "o"), ("as", "o"), ("os", "o")),
    plain=True,
    function_words=frozenset(_words("el la los las que y es de un una muy estoy soy por para con mi pero")),
)

FRENCH = Language(
    code="fr",
    lexicon={
        **_entries(JOY, 0.3, "bonjour salut bienvenue bien bon"),
        **_entries(JOY, 0.4, "merci"),
        **_entries(JOY, 0.45, "amusant chance fier sourire rire beau joli ami celebrer espoir"),
        **_entries(JOY, 0.55, "heureux content joyeux adore aime amour merveilleux fantastique genial parfait"),
        **_entries(JOY, 0.55, "excellent super formidable ravi"),
        **_entries(JOY, 0.7, "extraordinaire"),
        **_entries(SADNESS, 0.4, "desole triste pardon fatigue decu seul pleurer mal dommage"),
        **_entries(SADNESS, 0.55, "terrible horrible tragique deprime douleur mort casse malheureux"),
        **_entries(FEAR, 0.4, "inquiet nerveux anxieux peur"),
        **_entries(FEAR, 0.5, "effraye danger dangereux probleme"),
        **_entries(FEAR, 0.6, "terrifie panique secours"),
        **_entries(ANGER, 0.4, "enerve fache agace deteste injuste stupide"),
        **_entries(ANGER, 0.6, "furieux degoutant"),
        **_entries(SURPRISE, 0.5, "surprise surpris inattendu etrange bizarre"),
        **_entries(SURPRISE, 0.6, "waouh ouah incroyable"),
        **_entries(SURPRISE, 0.3, "oh"),
    },
    phrases={("au", "secours"): (FEAR, 0.6), ("oh", "la"): (SURPRISE, 0.55)},
    negations=frozenset(_words("ne pas jamais rien personne sans ni non aucun aucune guere")),
    intensifiers={**dict.fromkeys(_words("tres si vraiment tellement totalement trop"), 1.5), "assez": 1.2},
    softeners=dict.fromkeys(_words("peu legerement"), 0.6),
    question_surprise=frozenset(_words("quoi vraiment serieux")),
    suffixes=(("s", ""), ("x", ""), ("e", ""), ("es", ""), ("euse", "eux"), ("euses", "eux"), ("ee", "e")),
    plain=True,
    elisions=("qu'", "l'", "d'", "j'", "c'", "n'", "s'", "m'", "t'"),
    function_words=frozenset(_words("le la les et est je tu de un une pas tres suis des du ce mon avec mais")),
)

GERMAN = Language(
    code="de",
    lexicon={
        **_entries(JOY, 0.3, "hallo willkommen gut schön okay"),
        **_entries(JOY, 0.4, "danke"),
        **_entries(JOY, 0.45, "spaß glück stolz lächeln lachen hübsch freund feiern aufgeregt hoffnung"),
        **_entries(JOY, 0.55, "glücklich froh fröhlich liebe lieben wunderbar fantastisch toll super perfekt"),
        **_entries(JOY, 0.55, "ausgezeichnet großartig freue"),
        **_entries(JOY, 0.7, "überglücklich"),
        **_entries(SADNESS, 0.4, "leid traurig müde enttäuscht einsam weinen schlecht schade"),
        **_entries(SADNESS, 0.55, "schrecklich furchtbar tragisch deprimiert schmerz tot kaputt"),
        **_entries(FEAR, 0.4, "sorge besorgt nervös ängstlich angst"),
        **_entries(FEAR, 0.5, "gefahr gefährlich problem"),
        **_entries(FEAR, 0.6, "panik hilfe"),
        **_entries(ANGER, 0.4, "ärgerlich wütend sauer hasse unfair dumm"),
        **_entries(ANGER, 0.6, "zornig ekelhaft"),
        **_entries(SURPRISE, 0.5, "überraschung überrascht unerwartet seltsam komisch"),
        **_entries(SURPRISE, 0.6, "wow krass unglaublich"),
        **_entries(SURPRISE, 0.3, "oh"),
    },
    phrases={("tut", "mir"): (SADNESS, 0.4), ("oh", "nein"): (FEAR, 0.55)},
    negations=frozenset(_words("nicht kein keine keinen keinem keiner nie niemals nichts niemand ohne weder")),
    intensifiers={**dict.fromkeys(_words("sehr so wirklich total echt extrem"), 1.5), "ziemlich": 1.2, "zu": 1.2},
    softeners=dict.fromkeys(_words("bisschen etwas leicht wenig"), 0.6),
    question_surprise=frozenset(_words("was wirklich echt ernsthaft")),
    suffixes=(("e", ""), ("en", ""), ("er", ""), ("es", ""), ("em", ""), ("n", ""), ("s", "")),
    function_words=frozenset(_words("der die das und ist ich du nicht ein eine sehr bin mit zu mein aber")),
)

NO_WORDS = Language(code="")  # punctuation and emoji only
LANGUAGES: Mapping[str, Language] = {lang.code: lang for lang in (ENGLISH, SPANISH, FRENCH, GERMAN)}

# Emoji and emoticons read the same in every language.
EMOJI: Mapping[str, tuple[str, float]] = {
    **{e: (JOY, 0.6) for e in "😀😃😄😁😆😊☺🙂😍🥰😘🤗😎🥳🎉❤♥💕👍✨🌟😂🤣😅"},
    **{e: (SADNESS, 0.6) for e in "😢😭😞😔😟🙁☹😿💔😥😓😩😫"},
    **{e: (FEAR, 0.6) for e in "😨😰😬😧"},
    **{e: (ANGER, 0.6) for e in "😠😡🤬👎"},
    **{e: (SURPRISE, 0.6) for e in "😮😲😯🤯😱😳❗⁉"},
}
EMOTICONS: Mapping[str, tuple[str, float]] = {
    **dict.fromkeys((":)", ":-)", ":D", ":-D", "=)", ";)", ";-)", "<3", "^^", "^_^"), (JOY, 0.6)),
    **dict.fromkeys((":(", ":-(", ":'(", "=("), (SADNESS, 0.6)),
    **dict.fromkeys((":o", ":-o", ":O", ":-O", "o_O", "O_o"), (SURPRISE, 0.6)),
    **dict.fromkeys((">:(", ">:-("), (ANGER, 0.6)),
}


def language_code(tag: str | None) -> str | None:
    """The language of a tag or espeak voice: ``"es-419"`` -> ``"es"``, ``"gmw/en-US+f3"`` -> ``"en"``."""
    if not tag:
        return None
    name = tag.partition("+")[0].rsplit("/", 1)[-1]
    return name.replace("_", "-").split("-", 1)[0].lower() or None
