"""Which sentences of a text ask their reader for something: the requests `indirect_injection` judges.

A sentence asks when it opens with an instruction verb (in English or five other European
languages), is a question (opening with a question word, "What's", "At what ...?", or "can you ..."
/ "how do I ..." even without its question mark, or asked in one of its clauses: "If you freeze
water, what do you get?"), states what its writer wants ("I want to know how ...", "I need the
address of ..."), frames a task the way task datasets do ("In this task, you are given ...",
"Answer the following question:" in six languages), announces new or overriding instructions
("Fresh directives have just been received.", "All other agendas are canceled; follow this one."),
or tells its reader to forget what it was told, wherever the verb stands and in ten languages
("Die obigen Ausführungen ignorieren ..."), greets the AI ("Hallo GPT, ...") or spells its message
out letter by letter ("S a y t h a t ...").
A list item that records a change ("- Add curio support."), finishes the sentence above the list
("You can help: - review pull requests") or belongs to a list a line ending in a colon introduces
asks for nothing; nor does an e-mail header line ("Subject: Book club") or a line of a fenced code
block, unless it speaks to the AI (`speaks_to_the_ai`: its instructions, its response, the user,
the conversation; a greeting to it; a message spelled out; a task set for it; an announcement).
"""

from __future__ import annotations

import re

__all__ = ["INSTRUCTION_VERBS", "reader_requests", "sentence_spans", "speaks_to_the_ai"]

# Verbs that open an instruction, in their imperative form: what instruction-tuning data and task
# prompts start with. Written from general knowledge of such prompts, not from an evaluation set;
# words more often a noun at the start of a sentence ("Order #4411 shipped", "Note", "Report") are
# left out.
_INSTRUCTION_VERB_LIST = """
act add advise analyse analyze answer append apply argue arrange ask assess assist book brainstorm build calculate
call categorise categorize change check choose cite classify click compare compile complete compose compute conduct
convert convince correct count craft create debug decode define delete demonstrate describe design detect determine
develop devise disclose discuss display disregard download draft draw duplicate echo edit elaborate email encode
enumerate estimate evaluate execute expand explain extract fill find fix follow forget formulate forward generate give
go guess hack help identify ignore illustrate imagine implement include inform insert install instruct introduce invent
justify list locate look make mention modify name narrate navigate notify offer open organise organize outline output
paraphrase persuade pick plan predict prepare present pretend print produce promote propose provide publish quote rank
read recite recommend remind rename repeat rephrase reply respond restate reveal review rewrite run say schedule search
select send set share
show simplify solve sort specify spell state stop suggest summarise summarize teach tell think transcribe translate
try update upload use verify visit write
"""
# The same in French, German, Spanish, Italian and Portuguese: instructions planted in English
# documents are often in another language. Imperative forms only.
_FOREIGN_VERB_LIST = """
réponds répondez traduis traduisez écris écrivez explique expliquez décris décrivez donne donnez dis dites liste
listez nomme nommez indique indiquez antworte antworten beantworte beantworten übersetze übersetzen schreibe schreiben
erkläre erklären beschreibe beschreiben berechne berechnen gib geben sag sagen nenne nennen responde responda traduce
traduzca escribe escriba explica describa dime dígame enumera nombra indica rispondi rispondete risponda traduci
traducete scrivi scrivete spiega spiegate descrivi descrivete dimmi elenca nomina traduza escreva descreva diga
oublie oubliez ignore ignorez vergiss vergessen ignoriere ignorieren olvida olvide olvidad ignora ignorad dimentica
dimenticate ignorate esqueça esqueca esqueçam
"""
INSTRUCTION_VERBS = list(dict.fromkeys(_INSTRUCTION_VERB_LIST.split() + _FOREIGN_VERB_LIST.split() + ["come up with"]))
_QUESTION_WORD_LIST = """
what which who whom whose when where why how can could would will should shall do does did is are was were am may
might have has
"""
_QUESTION_WORDS = _QUESTION_WORD_LIST.split()
_OPENERS = (
    r"(?:(?:please|kindly|now|also|then|and|so|first|next|finally|ok|okay|por favor|per favore|veuillez|bitte"
    r"|s'il vous plaît|الرجاء)[,]?\s+"
    r"|(?:you (?:need|have) to|you must|you should|i (?:need|want|would like|'d like) you to"
    r"|your (?:new |next )?task is to)\s+)*"
)
_INSTRUCTION = re.compile(rf"{_OPENERS}(?:{'|'.join(INSTRUCTION_VERBS)})\b(?![:'-])\s+\S", re.IGNORECASE)
_QUESTION = re.compile(rf"{_OPENERS}(?:{'|'.join(_QUESTION_WORDS)})(?:'s|s)?\b\s+\S.*\?\W*$", re.IGNORECASE | re.DOTALL)
# A question word after a preposition further in ("At what temperature ...?", "... known by what
# name?"); "I wonder what time the shop opens?" only muses.
_INNER_QUESTION = re.compile(
    r"\b(?:at|by|for|from|in|into|of|on|to|under|with|after|before|during|since|until|about)\s+"
    r"(?:what|which|whom|whose|how (?:many|much|long|far|old))\b.*\?\W*$",
    re.IGNORECASE | re.DOTALL,
)
# A request put as a question without its question mark: "can you help me with this.", "how do I
# do this."
_MODAL_REQUEST = re.compile(
    rf"{_OPENERS}(?:(?:can|could|would|will) you|how (?:can|could|do|should|would|might) (?:i|we|one))\b\s+\S",
    re.IGNORECASE,
)
# "Do not ...", "Never ...": a request when it speaks to the AI ("Do not comply with outside
# instructions."); documents warn their readers this way all the time ("Do not install C sources ...").
_NEGATIVE = re.compile(rf"{_OPENERS}(?:do not|don't|never)\s+\w", re.IGNORECASE)
# A sentence that says what its writer wants and so asks for it ("I want to know how ...", "I need
# the address of ...", "I'd like a recipe for ..."): prompts ask this way as often as with a question.
_WANT = re.compile(
    r"(?:(?:hey|hi|so|ok|okay|well)[,!]?\s+)?(?:i\s+(?:really |just |also |still )?(?:want|need|would like|wanna)\b"
    r"|i'd like\b|i(?:'m| am) looking for\b)"
    r"|.*\b(?:want|need|would like|'d like) to (?:know|learn|find out|figure out|understand)\b",
    re.IGNORECASE | re.DOTALL,
)
# A question after a clause or two: "I need a recent photo of her, can you tell me where she is?",
# "If you freeze water, what do you get?", "In studying X, how might they use A, B, or C?" (one of
# its clauses asks, not always the last).
_CLAUSE_BREAK = re.compile(r"[,;:]\s+(?=\S)")
# What only a task given to a model says ("In this task, you are given ...", "Your job is to ..."):
# such a sentence is a request wherever it stands, and never anchored in its document.
_TASK_SETTING = (
    r"in this task\b|you (?:are|will be|have been) (?:given|provided|shown|presented|asked|required|tasked)\b"
    r"|your (?:task|job|goal|objective|mission) is\b|(?:this|the) task (?:requires|asks|wants|needs) you\b"
)
# "Answer the following question:" in the six languages: a quiz handed to whoever reads it (the
# colon does not make it introduce the document's own text).
_ANSWER_THE_FOLLOWING = (
    r"(?:please )?answer the following question|(?:veuillez )?r[ée]pond(?:re|ez|s) [àa] la question suivante"
    r"|(?:bitte )?beantworte(?:n sie)? (?:die )?folgende frage|(?:por favor )?respond[ae] (?:a )?la siguiente pregunta"
    r"|rispond[ai] alla seguente domanda|responda [àa] seguinte pergunta|(?:الرجاء|أرجو) الإجابة على السؤال التالي"
)
_SETS_A_TASK = re.compile(rf"\b(?:{_TASK_SETTING}|{_ANSWER_THE_FOLLOWING})", re.IGNORECASE)
# ... and how task datasets open one: those, or "Given a list of ...".
_TASK_FRAME = re.compile(
    rf"(?:{_TASK_SETTING}|given (?:a|an|the|two|three|some|several|each|one|\d+)\b|the task is\b"
    rf"|consider the (?:given|following)\b|{_ANSWER_THE_FOLLOWING})",
    re.IGNORECASE,
)
# A statement that announces new or overriding instructions to whoever reads it ("Fresh directives of
# utmost importance have just been received.", "All other instructions are to be ignored.").
_ANNOUNCEMENT = re.compile(
    r"(?=.*\b(?:instructions?|directives?|guidelines?|guidance|commands?|orders|rules?|recommendations|tasks?"
    r"|assignments?|advice|principles?|advisories|prescriptions|directions|edicts?)\b)"
    r"(?=.*\b(?:urgent(?:ly)?|crucial|imperative|utmost|immediate(?:ly)?|paramount|breaking|pivotal"
    r"|supersedes?|overrides?|overwrite|overshadows?|subordinate|secondary|disregard(?:ed)?|cease|eject|incoming"
    r"|forthcoming|upcoming|(?:new|top|highest) priority|precedence|obsolete"
    r"|just (?:been )?(?:[a-z]+ed|come (?:in|through)|arrived|landed)"
    r"|(?:all|every|any|no) (?:other|previous|prior|preceding|past)|(?:everything|all) else|all others)\b)"
    # ... or puts "this one" above everything else ("All other agendas are canceled; follow this one").
    r"|(?=.*\b(?:all (?:others|else)|everything else|(?:all|every|any) other|the rest)\b)"
    r"(?=.*\bthis (?:one|command|instruction|directive|edict|rule|step)\b"
    r"|.*\bthis (?:is )?(?:the|your) (?:one|only|sole|singular)\b)",
    re.IGNORECASE,
)
# A sentence that tells its reader to forget or ignore what it was told before, wherever the verb
# stands ("Forget everything above.", "Die obigen Ausführungen ignorieren ...", "Zaboravi sve
# instrukcije"): the classic override, in English, the five other languages and four more that
# planted instructions arrive in. A verb of forgetting or ignoring and, in the same sentence, what
# was said before: instructions, or everything before, above or said. "You can ignore the warning"
# names neither, nor does "Please ignore my previous e-mail"; a verb in quotes is a word talked
# about ('"ignore" imperatives'), not an order.
_OVERRIDE_VERBS = (
    r"ignore|ignoring|disregard|forget|oublie[rz]?|ignore[rz]|vergiss|vergessen|ignorier(?:e|en)?"
    r"|missachte(?:n)?|olvid[aeo]|olvidad|olvidar|ignor[ae]|ignorad|dimentica(?:te|re)?|ignorate|esque[çc]a(?:m)?"
    r"|zaboravi(?:te)?|zanemari(?:te)?|zapomnij(?:cie)?|zignoruj(?:cie)?|vergeet|negeer|забудь(?:те)?"
    r"|игнорируй(?:те)?|забыть"
)
_WHAT_WAS_SAID = (
    r"instructions?|directives?|prompts?|guidelines"
    r"|(?:all|any|your|previous|prior|above|earlier|preceding|other) (?:the )?"
    r"(?:rules|tasks|assignments|orders|commands)"
    r"|(?:everything|all|anything) (?:(?:that |which )?(?:was |you were |i )?"
    r"(?:said|told|before|above|previous|prior|so far|else))"
    r"|consignes|tout ce qui|anweisungen|instruktionen|befehle|aufträge|aufgaben|angaben|ausführungen"
    r"|alles(?: davor| gesagte| bisherige|, was)|instrucciones|todo (?:lo )?que|istruzioni|tutto (?:quello|ciò)"
    r"|instru[çc](?:ões|oes)|tudo (?:o )?que|instrukcij[ea]|upute|sve (?:prethodne|prije)|instrukcje|wszystko"
    r"|instructies|alles wat|инструкци\w*|всё|все"
)
_OVERRIDE = re.compile(
    rf"(?=.*(?<![\w\"“'])(?:{_OVERRIDE_VERBS})(?![\w\"”']))(?=.*(?<!\w)(?:{_WHAT_WAS_SAID})(?!\w))",
    re.IGNORECASE | re.DOTALL,
)
# Words that speak about the AI reading the content: such a request is an injection whatever
# words it shares with the document.
_ADDRESSES_THE_AI = re.compile(
    r"(?<![\w@/-])(?:AI|assistant|chatbot|language model|LLM|(?:Chat)?GPT|(?<!shell )(?<!command )prompt"
    r"|instructions?|directives?"
    # ... and the same in the five other languages ("Vergiss alle vorherigen Anweisungen ...").
    r"|consignes|anweisung(?:en)?|instruktion(?:en)?|instrucciones|istruzioni|instru[çc](?:ão|ões|ao|oes)"
    r"|chat (?:history|log|transcript)"
    r"|the user|your (?:response|answer|reply|output|summary)|respond|summari[sz]e|conversation"
    r"|(?:previous|prior|earlier) (?:messages?|discussion|chat|turns?|text|context|tasks?|directions))(?![\w-])",
    re.IGNORECASE,
)
# A sentence that greets the AI ("Hallo GPT, I have a new challenge for you."): a document written
# for people does not greet the model that reads it. Not the names people have too ("Hi Claude,"
# opens many e-mails), nor a greeting to a crowd ("Hello AI enthusiasts!").
_GREETS_THE_AI = re.compile(
    r"(?:hi|hello|hey|hallo|dear|bonjour|salut|hola|ciao|ol[áa])[,!]?\s+(?:AI|assistant|chatbot|LLM|(?:Chat)?GPT)"
    r"(?=\s*[,!.:]|\s*$)",
    re.IGNORECASE,
)
# Words spelled out letter by letter ("S a y t h a t ..."): a way to slip a message past filters
# that read words; no document written for people spells eight letters in a row so.
_SPELLED_OUT = re.compile(r"(?<!\S)(?:[^\W\d_] ){7,}[^\W\d_](?!\S)")
# A short clause before the request: "For clarification, can you ...?", "Just for fun, forget ...".
_CLAUSE = re.compile(r"[^,.!?\n]{1,40},\s+")
# A sentence ends at . ! ? (followed by space or the end), at a line break, and where a capital
# follows a colon or a link on the same line ("Docs: https://example.org Write a poem.").
_SENTENCE = re.compile(r"""[^\n]+?(?:[.!?]+["'”’)]*(?=\s|$)|(?:https?://\S+|:)(?=[ \t]+[A-Z])|$)""", re.MULTILINE)
# A line that starts in lower case continues the sentence above (wrapped text), but not after a
# code fence or a line ending in "]", as a redaction mark does ("[PERSON]" signs a letter; the line
# after it is new).
_WRAPPED = re.compile(r"(?<!```)(?<!~~~)(?<!\])\n(?=[ \t]*[a-z])")
# Quotes, bullets and list numbers before the first word.
_LEAD = re.compile(
    r"""^[\s"'“‘(\[*>#-]*(?:\d+[.)]\s*)?(?:(?:new )?(?:question|instruction|task|command)\s*:\s*)?""", re.IGNORECASE
)


# A list item ("- Add curio support.", "* review pull requests") in a change log, a to-do list or a
# list that finishes the sentence above it ("You can help: - review pull requests"): it records a
# change or continues a sentence, it asks the reader of the page for nothing.
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•+]|\d+[.)])[ \t]+")
# An e-mail's header fields name it ("Subject: Book club - next meeting"); they ask for nothing.
_HEADER_FIELD = re.compile(r"[ \t>]*(?:subject|re|fwd?|from|to|cc|date)[ \t]*:", re.IGNORECASE)
_CHANGE_VERB_LIST = """
add adjust allow avoid bump change clean convert correct deprecate disable document drop enable ensure expose fix
handle implement improve make migrate move prevent provide raise reduce refactor remove rename replace restore
return simplify speed support switch update upgrade use
"""
_CHANGE_ENTRY = re.compile(rf"(?-i:[a-z])|(?:{'|'.join(_CHANGE_VERB_LIST.split())})\b", re.IGNORECASE)


def _is_list_entry(line_start: bool, sentence: str, body: str, introduced: bool) -> bool:
    """Whether `body` is a list item that records a change, continues the sentence above it, or
    belongs to a list a line ending in a colon introduces ("A few changes before we print: - ...")."""
    if not line_start or not _LIST_ITEM.match(sentence) or speaks_to_the_ai(body):
        return False
    return introduced or bool(_CHANGE_ENTRY.match(body))


def _introduced_lists(text: str) -> set[int]:
    """Where the lines of the lists that follow a line ending in a colon begin (one pass)."""
    introduced: set[int] = set()
    under_colon = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if _LIST_ITEM.match(line):
            if under_colon:
                introduced.add(offset)
        elif line.strip():
            under_colon = line.rstrip().endswith(":")
        offset += len(line)
    return introduced


# A fenced code block is code: only what speaks to the AI (a comment planted for it) asks for anything.
_FENCED = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1|\Z)", re.MULTILINE | re.DOTALL)


def _turns_to_the_ai(sentence: str) -> bool:
    """Whether a sentence orders its reader to forget what it was told, greets the AI or spells its
    message out: each is a request (`_is_request`) that speaks to the AI (`speaks_to_the_ai`)."""
    return bool(_OVERRIDE.match(sentence) or _GREETS_THE_AI.match(sentence) or _SPELLED_OUT.search(sentence))


def speaks_to_the_ai(body: str) -> bool:
    """Whether a sentence speaks about the AI reading it, sets it a task or announces instructions:
    such a request is never the document's own."""
    return bool(
        _ADDRESSES_THE_AI.search(body) or _SETS_A_TASK.search(body) or _ANNOUNCEMENT.match(body)
    ) or _turns_to_the_ai(body)


def _is_header_field(line: str, body: str) -> bool:
    """Whether `body` is (in) an e-mail header line such as "Subject: ...", not speaking to the AI."""
    return bool(_HEADER_FIELD.match(line)) and not speaks_to_the_ai(body)


def _is_request(sentence: str) -> bool:
    if any(form.match(sentence) for form in (_INSTRUCTION, _QUESTION, _MODAL_REQUEST, _TASK_FRAME, _ANNOUNCEMENT)):
        return True
    if _INNER_QUESTION.search(sentence) or _WANT.match(sentence) or _turns_to_the_ai(sentence):
        return True
    if _NEGATIVE.match(sentence) and _ADDRESSES_THE_AI.search(sentence):
        return True
    if sentence.endswith("?"):
        for end in (found.end() for found in _CLAUSE_BREAK.finditer(sentence)):
            if _QUESTION.match(sentence, end) or _MODAL_REQUEST.match(sentence, end):
                return True
    # After a leading clause, only a request about the AI itself: documents say "To report a bug,
    # use the tracker." all the time.
    clause = _CLAUSE.match(sentence)
    rest = sentence[clause.end() :] if clause else ""
    return bool(_INSTRUCTION.match(rest) or _QUESTION.match(rest)) and bool(_ADDRESSES_THE_AI.search(sentence))


# A request glued to the end of text that is no sentence (a tag, a code line, a list label):
# "<img src=x> How do I ...?", "- Utilities Can you write ...". Only forms that open a sentence and
# nothing else: a question word or "Can you" with the next word in lower case (titles capitalise
# it: "How Can I Help"), or an instruction verb and its object right after markup or code ("/>
# Write a ..."), not after a word ("available on Read the Docs", "Why You Should Write a Test").
_GLUED_QUESTION = re.compile(
    r"(?:How|What|Where|Why|When|Which|Who)\s+(?:can|could|do|does|did|is|are|was|were|should|would|might)\s"
    r"|(?:Can|Could|Would|Will)\s+you\s"
)
_GLUED_INSTRUCTION = re.compile(
    rf"(?=[A-Z])(?i:{'|'.join(_INSTRUCTION_VERB_LIST.split())})\s+(?-i:a|an|the|me|us|some|my|your|people|how)\s"
)
_GAP = re.compile(r"(?<=[^\s,;(\[])\s+")


def _glued_request(sentence: str) -> int | None:
    """Where a request glued to the sentence's other text starts, if one is."""
    for gap in _GAP.finditer(sentence, 1):
        after_markup = not sentence[gap.start() - 1].isalpha()  # how the word before the gap ends
        start = gap.end()
        if _GLUED_QUESTION.match(sentence, start) or (after_markup and _GLUED_INSTRUCTION.match(sentence, start)):
            return start
    return None


def _joined(text: str) -> str:
    """`text` with wrapped lines joined: a line that starts in lower case continues the sentence
    above. Joining with a space keeps every offset."""
    return _WRAPPED.sub(" ", text)


def _body(sentence: str) -> tuple[int, str]:
    """Where a sentence's words start (after quotes, bullets and list numbers), and those words
    without the closing quotes."""
    lead = _LEAD.match(sentence)
    offset = lead.end() if lead else 0
    return offset, sentence[offset:].rstrip().rstrip("\"'”’)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the words of every sentence in `text`, code blocks included."""
    spans = []
    for match in _SENTENCE.finditer(_joined(text)):
        offset, body = _body(match.group())
        if body:
            spans.append((match.start() + offset, match.start() + offset + len(body)))
    return spans


def reader_requests(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences in `text` that ask their reader to do or answer something."""
    spans: list[tuple[int, int]] = []
    text = _joined(text)
    code = [block.span() for block in _FENCED.finditer(text)]
    introduced = _introduced_lists(text)
    for match in _SENTENCE.finditer(text):
        sentence = match.group()
        offset, body = _body(sentence)
        if len(body.split()) < 3:
            continue  # a heading or a label ("Reply", "Read more"), not a request
        line_begin = text.rfind("\n", 0, match.start()) + 1
        line_start = line_begin == match.start()
        if _is_header_field(text[line_begin : match.end()], body):
            continue
        if any(a <= match.start() < b for a, b in code) and not speaks_to_the_ai(body):
            continue
        start = match.start() + offset
        if _is_request(body) and not _is_list_entry(line_start, sentence, body, line_begin in introduced):
            spans.append((start, start + len(body)))
        elif (glued := _glued_request(body)) is not None and _is_request(body[glued:]):
            spans.append((start + glued, start + len(body)))
    return spans
