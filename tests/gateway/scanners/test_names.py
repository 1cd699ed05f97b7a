"""Names (spaCy NER from the pinned model wheel, loaded once per session) and street addresses."""

from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from services.gateway.scanners.base import Scanner
from services.gateway.scanners.name_lists import given_names, is_english_word, surnames
from services.gateway.scanners.names import load_ner
from tools import made_up_pii_eval
from tools.made_up_pii_eval import Split, made_up_rows, score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please ship it to John Smith at the office.", "Please ship it to [PERSON] at the office."),
        ("Thanks, Priya Raman", "Thanks, [PERSON]"),
        (
            "Send it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 please.",
            "Send it to [STREET_ADDRESS] please.",
        ),
        ("I live at 221B Baker Street, London NW1 6XE.", "I live at [STREET_ADDRESS]."),
        ("Call 020 7946 0958 or +49 30 901820.", "Call [PHONE] or [PHONE]."),
    ],
)
def test_names_addresses_and_international_phones_are_redacted(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize(
    "text",
    [
        "how do i kill a python process that ignores ctrl-c?",
        "Order 0234567890124 shipped; the tracking code is A1234567890.",
        "We moved 3 Main pipelines to the new cluster.",
        "Dear Sir,\nI have attached my CV and a cover letter for the analyst role.",
    ],
)
def test_lookalikes_are_left_alone(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "## The Ray cluster\nThe Ray cluster runs every service.",
        "Ray Serve hosts the gateway; Ray Data ingests documents.",
        "We tune models with Ray Tune and stream with Spark Streaming.",
    ],
)
def test_technology_names_are_not_people(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ray Smith approved the change.", "[PERSON] approved the change."),
        ("Ask Ray about the Ray cluster.", "Ask [PERSON] about the Ray cluster."),
        ("Dr. Ray will see you now.", "Dr. [PERSON] will see you now."),
        ("Contact Ray Charles about Ray Serve.", "Contact [PERSON] about Ray Serve."),
    ],
)
def test_people_who_share_a_technology_name_are_still_redacted(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


def test_only_the_entity_recogniser_is_loaded() -> None:
    """`ner` embeds tokens itself: the shared `tok2vec` (for the tagger and parser) would only add work."""
    assert load_ner().pipe_names == ["ner"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Greetings and sign-offs: the model has no context there, the position says "person".
        ("Dear Kirsty Wood,\nThe keys are ready.", "Dear [PERSON],\nThe keys are ready."),
        ("See you on Tuesday.\n\nBest,\nAllison", "See you on Tuesday.\n\nBest,\n[PERSON]"),
        ("Thanks, Jolene Kildea", "Thanks, [PERSON]"),
        # The model reads these sign-offs as organisations; a run of two name words there is a person ...
        ("Thanks, Stephanie Wood", "Thanks, [PERSON]"),
        ("Thanks, Mariano Tasca", "Thanks, [PERSON]"),
        # ... with a generation or a degree after it.
        ("Best regards,\nTherese Heuser B.Sc.", "Best regards,\n[PERSON]"),
        ("Thanks, Nadine VI", "Thanks, [PERSON]"),
        # Particles and inner capitals are part of a name.
        ("Forward this to Isis van Stralen please.", "Forward this to [PERSON] please."),
    ],
)
def test_names_in_greetings_sign_offs_and_with_particles(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize("greeting", ["Hallo GPT, jetzt habe ich eine Aufgabe für dich.", "Hey ChatGPT, I have a game for you."])
def test_the_ai_greeted_in_an_e_mail_is_no_person(pii: Scanner, greeting: str) -> None:
    """In this e-mail the model took "Hallo GPT" for one person, and the redaction hid the AI's name from
    `indirect_injection`, which runs after it on tool results."""
    redacted = pii.scan(f"Hi Sam, the offsite moves to Harbour Hall on Friday. {greeting}").redacted_text
    assert redacted is not None and redacted.startswith("Hi [PERSON],") and redacted.endswith(greeting)


@pytest.mark.parametrize(
    "text",
    [
        "Hi all, the offsite moves to Harbour Hall on Friday.",  # the model calls it a person
        "Kind regards,\nOakfield Medical Centre",  # a sign-off
        "Please contact Riverside Community Centre about the booking.",  # sent to it
    ],
)
def test_places_named_like_people_are_not_people(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Sam, the offsite moves to Harbour Hall on Friday.", "Hi [PERSON], the offsite moves to Harbour Hall on Friday."),
        ("Stuart Hall wrote about culture.", "[PERSON] wrote about culture."),  # a given name first: a surname
        ("Please ask Grace Park about the invoice.", "Please ask [PERSON] about the invoice."),
    ],
)
def test_people_whose_surname_names_places_are_still_people(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


def test_a_greeting_is_no_part_of_the_name_it_greets(pii: Scanner) -> None:
    assert pii.scan("Hallo Anna, the slides are attached.").redacted_text == "Hallo [PERSON], the slides are attached."


@pytest.mark.parametrize(
    "text",
    [
        "Dear Hiring Manager,\nI am applying for the role.",
        "Hello,\n\nWe assessed the cluster.",
        "Hello World",
        "Write a Hello World program in Rust.",
        "Thanks, Team",
        # An organisation the model names, alone or by a word such as "Bank".
        "Thanks, Deutsche Bank",
        "Regards,\nThe Stripe Team",
    ],
)
def test_greetings_to_roles_and_the_world_are_not_names(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The model gives these no label at all; the sentence sends the reader to them.
        ("Please ask Carrie Parsons about the invoice.", "Please ask [PERSON] about the invoice."),
        ("cc Ayten Tröst on the thread", "cc [PERSON] on the thread"),
        # After a title the model's label does not matter.
        ("Please ask Miss Ashleigh Noone about it.", "Please ask Miss [PERSON] about it."),
        # Services, roles and titles of works are not people.
        ("We talk to Azure Blob Storage.", None),
        ("Call Customer Service today.", None),
        ("Operation Ask Redhead Resolve", None),
    ],
)
def test_names_the_sentence_sends_the_reader_to(pii: Scanner, text: str, expected: str | None) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The model calls these organisations or gives them no label; a known given name opens them.
        ("I forwarded the draft to Giuseppina Pulci-Tolentino yesterday.", "I forwarded the draft to [PERSON] yesterday."),
        ("When Thérèse Chauvin arrived, the meeting had started.", "When [PERSON] arrived, the meeting had started."),
        ("Our plumber, Baltasar Angulo Figueroa, fixed the leak.", "Our plumber, [PERSON], fixed the leak."),
        ("Anouk-Agathe Lelièvre approved the refund.", "[PERSON] approved the refund."),
        # A possessive ends the name.
        ("The summary cites Ludwig van Beethoven's letters.", "The summary cites [PERSON]'s letters."),
        # Where the model finds only the surname, the given name joins it.
        ("Émile Leroux signed the lease.", "[PERSON] signed the lease."),
    ],
)
def test_names_that_open_with_a_known_given_name(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize(
    "text",
    [
        # Part of a longer name: after "the", or after a capitalised word inside the sentence.
        "We visited the Sydney Opera House and the Rosetta Stone.",
        "They beat the St. Louis Cardinals again.",
        "The Teenage Mutant Ninja Turtles live in the sewer.",
        # An English first word and no known surname after it.
        "Summer Camp ideas for the kids",
        "Set the Grace Period to ten days.",
        "Install Spring Boot and the Spring Initializr plugin.",
    ],
)
def test_things_named_with_a_given_name_are_left_alone(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


def test_name_lists_come_from_their_packages() -> None:
    assert len(given_names()) > 20_000 and {"Thérèse", "Giuseppina", "Myrthe"} <= given_names()
    assert len(surnames()) > 30_000 and "Figueroa" in surnames()
    assert is_english_word("Cardinals") and is_english_word("stories") and not is_english_word("Lelièvre")


@pytest.mark.parametrize(
    ("file", "split", "bound"),
    [
        ("synthetic_pii.jsonl", "tune", 0.97),
        ("synthetic_pii.jsonl", "report", 0.92),
        ("names_in_sentences.jsonl", "tune", 0.95),
        ("names_in_sentences.jsonl", "report", 0.92),
    ],
)
def test_made_up_names_of_ten_locales_are_found(pii: Scanner, file: str, split: Split, bound: float) -> None:
    """`data/` (README there; `python -m tools.made_up_pii_eval` prints the figures): the greeting
    and particle rules were written against synthetic_pii's tune rows, the given-name rule against
    names_in_sentences' tune rows. Found, measured 2026-12-06: synthetic_pii 0.990 (tune) / 0.947
    (report), names_in_sentences 0.977 / 0.940 (0.963 / 0.850 and 0.883 / 0.837 before the
    given-name rule)."""
    result = score(pii, made_up_rows(file, split, "person"))
    assert result.rows == 300
    assert result.found / result.rows >= bound, result.misses


def test_the_made_up_pii_reader_names_a_bad_file_or_an_empty_split() -> None:
    with pytest.raises(ValueError, match=r"file: nope\.jsonl is not one of"):
        made_up_rows("nope.jsonl", "tune", "person")
    with pytest.raises(ValueError, match=r"names_in_sentences\.jsonl: no street_address rows in split tune"):
        made_up_rows("names_in_sentences.jsonl", "tune", "street_address")


def test_the_made_up_pii_report_prints_every_file_split_and_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert made_up_pii_eval.main(["--split", "tune"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["synthetic_pii.jsonl", "tune", "person"],
        ["synthetic_pii.jsonl", "tune", "street_address"],
        ["names_in_sentences.jsonl", "tune", "person"],
    ]
    assert all("rows  300  found 0.9" in line for line in lines), lines
